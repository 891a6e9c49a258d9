"""``gradcli graph``: the autograd graph behind a module's loss."""

from __future__ import annotations

from gradcli.cli import options as opt
from gradcli.spec import FORMATS

EXAMPLES = opt.examples(
    "gradcli graph",
    "gradcli graph --model mlp",
    "gradcli graph --format dot | dot -Tpng > graph.png",
)
GRAPH_FORMATS = (*FORMATS, "dot")
NODE_FIELDS = ("id", "node", "parameter", "shape", "inputs")
GraphFormat = opt.format_option(*GRAPH_FORMATS, help=f"{', '.join(FORMATS)}, dot (Graphviz).")


def graph(
    model: opt.InspectModel = "demo",
    format: GraphFormat = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = opt.output_of(format, quiet, color, GRAPH_FORMATS)
    from gradcli.lessons import graph_of
    from gradcli.lessons.graph import dot
    from gradcli.render import lessons as shown
    from gradcli.render import show_rows

    nodes = graph_of(opt.inspected_model(model))
    show_rows(
        output,
        lambda console: shown.graph_tree(console, model, nodes),
        lambda fmt: shown.node_dicts(nodes),
        NODE_FIELDS,
        own={"dot": lambda: dot(nodes)},
    )
