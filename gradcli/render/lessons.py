"""Rich views for the commands that teach: params, graph and pitfalls."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.table import Table
from rich.tree import Tree

from gradcli.printable import printable
from gradcli.render.code import print_code
from gradcli.render.fit import fitted
from gradcli.render.markup import escape
from gradcli.spec import PITFALL_SUMMARIES

if TYPE_CHECKING:
    from gradcli.lessons.graph import Node
    from gradcli.lessons.inspection import TensorRow
    from gradcli.lessons.outcome import Cell, Outcome

LISTED_IN = {
    "in_parameters": "parameters()",
    "in_buffers": "buffers()",
    "in_state_dict": "state_dict()",
}
FOUND_COLUMNS = {
    "converted_by_to_float64": ".to(float64)\nconverts it",
    "grad_after_backward": "grad after\nbackward()",
    "changed_by_forward": "changed by\nforward()",
    "changed_by_step": "changed by\nstep()",
}


def yes(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[dim]no[/]"


def module_source(console: Console, source: tuple[str, str] | None) -> None:
    """The module's class as written (``source``: where it is, its text), so each row below
    can be traced to a line of it."""
    if source is None:
        return
    where, text = source
    console.print(f"[bold]the module[/] ({escape(where)})")
    print_code(console, text)


def params_table(
    console: Console,
    model: str,
    rows: list[TensorRow],
    claims: list[str],
    source: tuple[str, str] | None = None,
) -> None:
    module_source(console, source)
    held = Table(
        title=f"[bold]the tensors model {model} holds[/]", title_justify="left", box=box.SIMPLE_HEAD
    )
    for column in ("name", "kind", "shape", "dtype", "requires_grad", "is_leaf"):
        held.add_column(column, no_wrap=True, style="bold" if column == "name" else None)
    found = Table(
        title="[bold]what each takes part in[/] (found by doing it to a copy)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    found.add_column("name", style="bold", no_wrap=True)
    found.add_column("listed in", no_wrap=True)
    for label in FOUND_COLUMNS.values():
        found.add_column(label, justify="center", no_wrap=True)
    for row in rows:
        held.add_row(
            escape(row.name),
            row.kind,
            "×".join(map(str, row.shape)) or "scalar",
            row.dtype,
            yes(row.requires_grad),
            yes(row.is_leaf),
        )
        listed = ", ".join(label for key, label in LISTED_IN.items() if getattr(row, key))
        found.add_row(
            escape(row.name),
            listed or "[dim]nothing[/]",
            *(yes(getattr(row, key)) for key in FOUND_COLUMNS),
        )
    console.print(fitted(console, held))
    console.print(fitted(console, found))
    for claim in claims:
        console.print(f"• {printable(claim)}", markup=False)


def param_dicts(rows: list[TensorRow]) -> list[dict[str, Any]]:
    return [{**asdict(row), "shape": list(row.shape)} for row in rows]


def graph_tree(console: Console, model: str, nodes: list[Node]) -> None:
    if not nodes:
        console.print("the loss has no grad_fn: nothing in it requires grad")
        return
    seen: set[int] = set()

    def label(node: Node) -> str:
        if node.parameter is not None:
            shape = "×".join(map(str, node.shape or ())) or "scalar"
            return (
                f"[blue]{node.name}[/] ← [bold]{escape(node.parameter)}[/] {escape(f'[{shape}]')}"
            )
        return f"{node.name} [dim](output requires grad)[/]"

    def grow(branch: Tree, node: Node) -> None:
        for source in node.inputs:
            if source is None:
                branch.add("[dim]∅ input that does not require grad (no gradient flows)[/]")
            elif source in seen:
                branch.add(f"{nodes[source].name} [dim](shared, shown above)[/]")
            else:
                seen.add(source)
                grow(branch.add(label(nodes[source])), nodes[source])

    root = nodes[0]
    seen.add(root.id)
    tree = Tree(f"[bold]loss of model {model}[/] = {label(root)}")
    grow(tree, root)
    console.print(tree)
    leaves = [n.parameter for n in nodes if n.parameter is not None]
    console.print(
        f"backward() walks from {root.name} down to {len(leaves)} AccumulateGrad "
        f"leaves and adds into their .grad: {printable(', '.join(leaves))}",
        markup=False,
    )


def node_dicts(nodes: list[Node]) -> list[dict[str, Any]]:
    return [
        {
            "id": n.id,
            "node": n.name,
            "parameter": n.parameter,
            "shape": None if n.shape is None else list(n.shape),
            "inputs": ["none" if i is None else i for i in n.inputs],
        }
        for n in nodes
    ]


def pitfall_summaries() -> list[dict[str, Any]]:
    """The pitfalls, one row each: name and what goes wrong."""
    return [{"name": n, "summary": s} for n, s in PITFALL_SUMMARIES.items()]


def pitfall_list(console: Console, summaries: dict[str, str]) -> None:
    table = Table(
        title="[bold]pitfalls[/] (run one: gradcli pitfalls NAME)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("what goes wrong")
    for name, summary in summaries.items():
        table.add_row(name, summary)
    console.print(table)


def pitfall_text(value: Cell) -> str:
    if isinstance(value, str):
        return value
    return "[" + ", ".join(f"{x:.6g}" for x in value) + "]"


def pitfall_table(console: Console, outcome: Outcome, summary: str) -> None:
    console.print(f"[bold]{outcome.name}[/]: {summary}")
    if outcome.setup:
        for line in outcome.setup.splitlines():  # what both versions start from
            console.print("  " + line, markup=False, highlight=False)
    code = Table(box=box.SIMPLE_HEAD)
    code.add_column(outcome.labels[0], style="red")
    code.add_column(outcome.labels[1], style="green")
    # (gradcli's own code, lines and all: brackets escaped, newlines kept)
    code.add_row(escape_markup(outcome.mistake_code), escape_markup(outcome.correct_code))
    console.print(code)
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("step", justify="right")
    table.add_column("quantity", no_wrap=True)
    table.add_column(outcome.labels[0])
    table.add_column(outcome.labels[1])
    for row in outcome.rows:
        table.add_row(
            str(row.step),
            row.quantity,
            escape(pitfall_text(row.mistake)),
            escape(pitfall_text(row.correct)),
            style="yellow" if row.mistake != row.correct else None,
        )
    console.print(table)
    console.print(outcome.lesson, markup=False)


def pitfall_dicts(outcome: Outcome) -> list[dict[str, Any]]:
    return [
        {
            "pitfall": outcome.name,
            "step": r.step,
            "quantity": r.quantity,
            "mistake": r.mistake,
            "correct": r.correct,
        }
        for r in outcome.rows
    ]
