"""``--plot`` and ``--plot-file`` on optim, manual and compare, around a run being trained:
the records kept during it and the pictures drawn after it (what was asked, checked before
the run, is ``request.Request``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from gradcli.pictures import drawing as drawn
from gradcli.problems.plane import axis_names, loss_at, minima_of
from gradcli.render.jsonl import epoch_object, step_object
from gradcli.saved_runs import Run

if TYPE_CHECKING:
    from gradcli.output import Output
    from gradcli.pictures.request import Request
    from gradcli.records import EpochRecord, MethodSummary, RunInfo, StepRecord, Summary
    from gradcli.render import Sink


def map_of(problem: nn.Module) -> drawn.SurfaceMap | None:
    """The surface of a problem with two trainable elements, None for any other."""
    names = axis_names(problem)
    if names is None:
        return None
    return drawn.SurfaceMap((names[0], names[1]), loss_at(problem), minima_of(problem))


class Keeping:
    """A sink that passes everything on and keeps each record as its JSON lines object."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.records: list[dict[str, Any]] = []

    def start(self, info: RunInfo) -> None:
        self.sink.start(info)

    def step(self, record: StepRecord) -> None:
        self.records.append(step_object(record))
        self.sink.step(record)

    def epoch(self, record: EpochRecord) -> None:
        self.records.append(epoch_object(record))
        self.sink.epoch(record)

    def finish(self, summary: Summary) -> None:
        self.sink.finish(summary)


def with_epochs(runs: list[Run], summaries: list[MethodSummary]) -> list[Run]:
    """compare's runs with each method's epochs (on --data) as JSON lines' epoch objects."""
    for run, summary in zip(runs, summaries, strict=True):
        run.epochs = [epoch_object(e) for e in summary.epochs]
    return runs


def settings_of(info: RunInfo, compare: bool) -> list[tuple[str, str]]:
    """The run's settings, for the report (compare's optimizers are its runs' names)."""
    settings = [("model", info.model)]
    if not compare:
        hyperparameters = ", ".join(f"{k}={v}" for k, v in info.hyperparameters.items())
        settings += [("optimizer", info.optimizer), ("lr", f"{info.lr:g}")]
        settings += [("hyperparameters", hyperparameters)] if hyperparameters else []
    settings += [("device", info.device), ("dtype", info.dtype), ("steps", str(info.steps))]
    optional = {"schedule": info.schedule, "clipping": info.clipping, "data": info.data}
    optional["batches"] = info.batches
    return settings + [(key, value) for key, value in optional.items() if value]


def show(
    request: Request,
    runs: list[Run],
    problem: nn.Module,
    output: Output,
    *,
    compare: bool = False,
    info: RunInfo | None = None,
) -> None:
    """The pictures after the run: on the terminal, and in the file. (compare's table
    has its loss curves already.)"""
    import sys

    surface_map = map_of(problem)
    stream = sys.stdout if output.resolved_format() == "table" else sys.stderr
    width = drawn.width_of(stream, output)
    table = output.resolved_format() == "table"
    shown = [k for k in request.kinds if not (compare and table and k == "loss")]
    if shown:
        drawn.show_for(drawn.draw(runs, shown, width=width, surface_map=surface_map), output)
    if request.file is not None:
        kinds = request.file_kinds(surface_map is not None, compare)
        from gradcli.pictures import figures

        title = f"gradcli: {', '.join(r.label for r in runs)}"
        figures.write(request.file, runs, kinds, surface_map=surface_map, title=title)
        output.say(f"gradcli: wrote {', '.join(kinds)} to {request.file}")
    if request.report is not None:
        from gradcli.pictures import report

        kinds = request.file_kinds(surface_map is not None, compare)
        settings = [] if info is None else settings_of(info, compare)
        report.write(
            request.report,
            runs,
            kinds,
            surface_map=surface_map,
            command=request.command,
            settings=settings,
        )
        output.say(f"gradcli: wrote the report to {request.report}")
