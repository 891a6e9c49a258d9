"""The pictures of a run (`--plot` and `gradcli plot`), drawn from its step records.

The same records make the same pictures whether they were just trained or read back from
JSON lines (``gradcli.saved_runs``): the loss curve, the path on the loss surface of a
problem with two trainable elements, per-parameter gradient and update norms, the lr.
No torch here: ``gradcli plot`` draws without it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from gradcli.errors import GradcliError
from gradcli.saved_runs import Record, Run
from gradcli.surfaces import Point

if TYPE_CHECKING:
    from rich.text import Text

    from gradcli.output import Output

KINDS: dict[str, str] = {
    "loss": "the loss curve of each run (on --data: training and held-out loss per epoch)",
    "path": "each run's path on the loss surface (problems with two trainable elements)",
    "grad-norm": "one row per parameter: its gradient's L2 norm over the run",
    "update-norm": "one row per parameter: its update's L2 norm over the run",
    "lr": "the learning rate of each step",
}
MAX_WIDTH = 100  # wider terminals get the same pictures as 100 columns


def parse_kinds(given: Sequence[str] | None, option: str = "--plot") -> tuple[str, ...]:
    """``--plot loss,path --plot lr`` as ("loss", "path", "lr"); an unknown one is exit 2."""
    kinds: list[str] = []
    for text in given or ():
        for kind in (k.strip() for k in text.split(",")):
            if kind not in KINDS:
                raise GradcliError(
                    f"{option}: unknown picture {kind!r}; choose one of: {', '.join(KINDS)}"
                )
            if kind not in kinds:
                kinds.append(kind)
    return tuple(kinds)


@dataclass(frozen=True)
class SurfaceMap:
    """What the path picture knows about the surface: the names of the two elements, the
    loss at any point of them (None: the paths alone), the minima."""

    axes: tuple[str, str]
    loss: Callable[[float, float], float] | None = None
    minima: Sequence[Point] = field(default_factory=tuple)


def _norm(values: Any) -> float | None:
    """The L2 norm of a record's values: of the elements, or the recorded statistics'."""
    if values is None:
        return None
    if isinstance(values, dict):
        return float(values["norm"])
    return math.sqrt(math.fsum(v * v for v in values)) if values else 0.0


def losses(run: Run) -> tuple[list[int], list[float]]:
    """The loss each record shows (at the parameters before its step's update), against
    the record's step: every picture's x axis is the records' step numbers."""
    pairs = [(r["step"], float(r["loss"])) for r in run.records if r["loss"] is not None]
    return [s for s, _ in pairs], [v for _, v in pairs]


EPOCH_LOSS_TITLES = {
    "train": "training loss per epoch (the mean over its batches)",
    "val": "held-out loss after each epoch",
}


def epoch_losses(runs: Sequence[Run]) -> list[tuple[str, dict[str, tuple[list[int], list[float]]]]]:
    """The loss per epoch, as (title, series) pictures: for one run, one picture of its
    training loss (as the epoch's batches saw it) and its held-out loss after the epoch;
    for several, a picture of each, one series per run. Held-out: where there is any."""
    keys = {"train": "train_loss", "val": "val_loss"}

    def series(run: Run, key: str) -> tuple[list[int], list[float]]:
        pairs = [(e["epoch_end"], float(e[key])) for e in run.epochs if e[key] is not None]
        return [e for e, _ in pairs], [v for _, v in pairs]

    if len(runs) == 1:
        one = {name: series(runs[0], key) for name, key in keys.items()}
        return [("loss per epoch: train (its batches), val (held out)", _drawn(one))]
    pictures = []
    for name, key in keys.items():
        drawn = _drawn({run.label: series(run, key) for run in runs})
        if drawn:
            pictures.append((EPOCH_LOSS_TITLES[name], drawn))
    return pictures


def _drawn(
    series: dict[str, tuple[list[int], list[float]]],
) -> dict[str, tuple[list[int], list[float]]]:
    return {name: pair for name, pair in series.items() if pair[1]}


def norms(run: Run, key: str) -> dict[str, tuple[list[int], list[float]]]:
    """Each parameter's ``key`` ("grad" or "update") norm by step, where the record has one."""
    rows: dict[str, tuple[list[int], list[float]]] = {}
    for record in run.records:
        for name, param in record["params"].items():
            norm = _norm(param.get(key))
            if norm is not None:
                steps, values = rows.setdefault(name, ([], []))
                steps.append(record["step"])
                values.append(norm)
    return rows


def lrs(run: Run) -> tuple[list[int], list[float]]:
    """The lr each step's update used: the records' own ``lr``, else the run's constant."""
    pairs = []
    for record in run.records:
        if record["step"] == 0:
            continue
        lr = record.get("lr", run.lr)
        if lr is not None:
            pairs.append((record["step"], float(lr)))
    return [s for s, _ in pairs], [v for _, v in pairs]


def elements(record: Record) -> Point | None:
    """The two trainable elements of a record's parameters, in order, or None when the
    parameters do not hold exactly two (or hold statistics)."""
    flat: list[float] = []
    for param in record["params"].values():
        if not isinstance(param["value"], list):
            return None
        flat += [float(v) for v in param["value"]]
    return tuple(flat) if len(flat) == 2 else None


def axes_of(record: Record) -> tuple[str, str] | None:
    """The names of the two elements: ``xy[0]``, ``xy[1]``, or two scalars' own names."""
    if elements(record) is None:
        return None
    names = [
        name if param["shape"] == [] else f"{name}[{i}]"
        for name, param in record["params"].items()
        for i in range(len(param["value"]))
    ]
    return names[0], names[1]


def paths(runs: Sequence[Run]) -> dict[str, list[Point]]:
    return {
        run.label: [p for p in (elements(r) for r in run.records) if p is not None] for run in runs
    }


def draw(
    runs: Sequence[Run],
    kinds: Sequence[str],
    *,
    width: int = 80,
    surface_map: SurfaceMap | None = None,
) -> list[list[str]]:
    """The pictures, each as its lines, in the order of ``kinds``."""
    from gradcli.pictures.plot import MARKERS, panels
    from gradcli.pictures.sparks import spark_rows
    from gradcli.pictures.surface import path_picture

    pictures: list[list[str]] = []
    for kind in kinds:
        if kind == "loss" and all(run.epochs for run in runs):  # on --data: per epoch
            for title, series in epoch_losses(runs):
                pictures += panels(
                    {label: values for label, (_, values) in series.items()},
                    steps={label: steps for label, (steps, _) in series.items()},
                    width=width,
                    title=title,
                    x_label="epoch",
                )
        elif kind == "loss":
            series = {run.label: losses(run) for run in runs}
            pictures += panels(
                {label: values for label, (_, values) in series.items()},
                steps={label: steps for label, (steps, _) in series.items()},
                width=width,
            )
        elif kind == "lr":
            series = {run.label: lrs(run) for run in runs}
            if not any(values for _, values in series.values()):
                pictures.append(["lr: these records carry no lr"])
                continue
            pictures += panels(
                {label: values for label, (_, values) in series.items()},
                steps={label: steps for label, (steps, _) in series.items()},
                width=width,
                title="lr",
            )
        elif kind == "path":
            if surface_map is None:
                raise GradcliError(
                    "--plot path: needs records of a problem with exactly two trainable "
                    "elements (these have more)"
                )
            every = paths(runs)
            count = math.ceil(len(every) / len(MARKERS))  # a marker of its own for each run
            size = math.ceil(len(every) / count)
            for k in range(count):
                part = dict(list(every.items())[k * size : (k + 1) * size])
                pictures.append(
                    path_picture(
                        part,
                        axes=surface_map.axes,
                        loss=surface_map.loss,
                        minima=surface_map.minima,
                        width=width,
                        note=f" · panel {k + 1} of {count}" if count > 1 else "",
                        end_losses={
                            r.label: r.final_loss for r in runs if r.final_loss is not None
                        },
                    )
                )
        else:
            key = "grad" if kind == "grad-norm" else "update"
            for run in runs:
                title = f"{key} norm per parameter" + (f": {run.label}" if len(runs) > 1 else "")
                pictures.append(spark_rows(norms(run, key), width=width, title=title))
    return pictures


def width_of(stream: TextIO, output: Output) -> int:
    return min(output.console(stream).width, MAX_WIDTH)


def show(pictures: list[list[str]], output: Output, stream: TextIO) -> None:
    """Print the pictures to ``stream``, a blank line before each, their marks styled
    (unless NO_COLOR or --no-color)."""
    console = output.console(stream)
    for lines in pictures:
        console.print()
        for text in styled(lines):
            console.print(text, crop=True, overflow="ignore", no_wrap=True)


def styled(lines: list[str]) -> list[Text]:
    """A picture's lines as rich text, each of its marks (``text.Picture``) in its style:
    the markers the picture placed, never a letter that looks like one."""
    from rich.text import Text

    from gradcli.pictures.styles import STYLES
    from gradcli.pictures.text import marks_of

    texts = [Text(line) for line in lines]
    for row, column in marks_of(lines):
        style = STYLES.get(lines[row][column])
        if style is not None:
            texts[row].stylize(style, column, column + 1)
    return texts


def show_for(pictures: list[list[str]], output: Output) -> None:
    """After a run: on stdout beside a table, on stderr beside a machine format (never in
    the data; nothing there with --quiet)."""
    if output.resolved_format() == "table":
        show(pictures, output, sys.stdout)
    elif not output.quiet:
        show(pictures, output, sys.stderr)
