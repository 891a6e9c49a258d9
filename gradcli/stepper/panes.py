"""What the stepper's panes show, as rich renderables made from a ``Stepper``: the status
line, the parameter table (value, grad, update; the state with ``--state``), the formula
with the step's numbers (``--explain``'s lines), the loss curve and, on a 2-D problem, the
path on the surface. The pictures are ``gradcli.pictures``' own text."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradcli.optimizers.catalog import plain
from gradcli.pictures import drawing
from gradcli.pictures.live import map_of
from gradcli.render.jsonl import step_object
from gradcli.render.markup import escape
from gradcli.render.table import fmt, shape, shown, state_table
from gradcli.saved_runs import Run
from gradcli.train.stepping import SteppedRun, Stepper

KEYS = (
    "s step · space run/pause · r reset · +/- lr ×2/÷2 · o next run · m optim/manual · "
    "e explain · t state · arrows: move the start (2-D) · q quit"
)


def status(stepper: Stepper, running: bool) -> Text:
    """``adam lr=0.1 · optim · rosenbrock · step 5 · paused``, and why a run ended."""
    run = stepper.current
    hyper = "".join(
        f" {k}={plain(v)}" for k, v in run.info.hyperparameters.items() if v not in (0, False, None)
    )
    which = f" (run {stepper.selected + 1} of {len(stepper.runs)})" if len(stepper.runs) > 1 else ""
    start = (
        ""
        if stepper.start is None
        else f" · start ({fmt(stepper.start[0])}, {fmt(stepper.start[1])})"
    )
    text = Text.assemble(
        (f"{run.label}{which}", "bold"),
        f" lr={run.training.update.lr:g}{hyper} · {stepper.path} · model {run.info.model}"
        f"{start} · step {stepper.step_count} · ",
        ("running" if running else "paused", "bold"),
    )
    for other in stepper.runs:
        if other.ended is not None:
            text.append(f"\n{other.label} stopped: {other.ended}", "red")
    return text


def parameters(run: SteppedRun) -> RenderableType:
    """The last record's parameters: value after the update, the grad that drove it, the
    update; the optimizer state after it when recorded."""
    record = run.records[-1]
    loss = "" if record.loss is None else f"   loss {fmt(record.loss)}"
    title = f"step {record.step}{loss}" if record.step else f"step 0{loss} (the start)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("parameter", style="bold", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("value")
    table.add_column("grad")
    table.add_column("update")
    for p in record.params:
        table.add_row(
            escape(p.name), shape(p.shape), shown(p.value), shown(p.grad), shown(p.update)
        )
    if any(p.state for p in record.params):
        return Group(table, state_table(record))
    return table


def formula(run: SteppedRun, explain: bool) -> Text:
    """The step's rule with its numbers (``--explain``), one parameter's line after another."""
    record = run.records[-1]
    if not explain:
        return Text("e: show the formula of each step with its numbers (--explain)", "dim")
    if not record.explain:
        return Text("the formula shows from the next step on", "dim")
    text = Text()
    for line in record.explain:
        element, _, parts = line.partition(": ")
        text.append(element + "\n", "bold")
        for part in parts.split("; "):
            text.append(f"  {part}\n")
    return text


def runs_of(stepper: Stepper) -> list[Run]:
    """The runs as the pictures take them: labels and JSON lines objects."""
    return [
        Run(run.label, [step_object(r) for r in run.records], run.info.lr) for run in stepper.runs
    ]


def surface(stepper: Stepper) -> drawing.SurfaceMap | None:
    """The surface of a 2-D problem (None for others): the same for every start."""
    return map_of(stepper.runs[0].training.problem)


def picture(
    stepper: Stepper, kind: str, width: int, surface_map: drawing.SurfaceMap | None = None
) -> Text:
    """The loss curve (``kind`` "loss") or the path on ``surface_map`` ("path") at ``width``."""
    pictures = drawing.draw(runs_of(stepper), [kind], width=width, surface_map=surface_map)
    return Text("\n").join(Text("\n").join(drawing.styled(lines)) for lines in pictures)
