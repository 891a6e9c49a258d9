"""``gradcli graph``: the autograd graph behind a loss, read from ``loss.grad_fn``.

Each node is a backward function; its inputs are ``next_functions``. A leaf that requires
grad shows up as ``AccumulateGrad`` holding the parameter; an input that does not require
grad (data, buffers) shows up as nothing at all, which is how ``requires_grad`` spreads:
only results computed from tensors that require grad get a ``grad_fn``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from gradcli.printable import printable


@dataclass
class Node:
    id: int
    name: str  # e.g. MeanBackward0, AccumulateGrad
    parameter: str | None = None  # for AccumulateGrad: which parameter
    shape: tuple[int, ...] | None = None
    inputs: list[int | None] = field(default_factory=list)  # None: needs no gradient


def autograd_graph(model: nn.Module, loss: Tensor) -> list[Node]:
    """The nodes reachable from ``loss.grad_fn``, root first, each listed once."""
    names = {id(p): name for name, p in model.named_parameters()}
    ids: dict[object, int] = {}
    nodes: list[Node] = []

    def visit(fn: object) -> int:
        if fn in ids:
            return ids[fn]
        node = Node(len(nodes), type(fn).__name__)
        ids[fn] = node.id
        nodes.append(node)
        variable = getattr(fn, "variable", None)
        if isinstance(variable, Tensor):
            node.parameter = names.get(id(variable), "(a leaf outside the model)")
            node.shape = tuple(variable.shape)
        for next_fn, _ in getattr(fn, "next_functions", ()):
            node.inputs.append(None if next_fn is None else visit(next_fn))
        return node.id

    if loss.grad_fn is not None:
        visit(loss.grad_fn)
    return nodes


def dot(nodes: list[Node]) -> str:
    """Graphviz DOT, for ``| dot -Tpng > graph.png``."""
    lines = ["digraph autograd {", "  rankdir=BT;", '  node [shape=box, fontname="monospace"];']
    constants = 0
    for node in nodes:
        label = _quoted(node.name)
        style = ""
        if node.parameter is not None:
            label += f"\\n{_quoted(node.parameter)} {list(node.shape or ())}"
            style = ", style=filled, fillcolor=lightblue"
        lines.append(f'  n{node.id} [label="{label}"{style}];')
        for source in node.inputs:
            if source is None:
                constants += 1
                lines.append(f'  c{constants} [label="no grad", shape=plaintext];')
                lines.append(f"  c{constants} -> n{node.id} [style=dashed];")
            else:
                lines.append(f"  n{source} -> n{node.id};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """``text`` inside a DOT string: its backslashes and quotes escaped, newlines as \\n (a
    parameter's name is the user's: ``x"y`` must not end the label)."""
    shown = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return printable(shown)  # (other control characters as escapes: DOT keeps them raw)
