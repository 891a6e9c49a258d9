"""``gradcli lr-find``'s output: the suggestion as one bare number (piped), every point as
JSON lines, CSV or TSV (schema: step, lr, loss, smoothed, seed; floats at full precision),
or the curve as a picture on a log-lr axis with the suggestion marked and the rule stated.
No torch here."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

from gradcli.lr_range import RULE, Curve, Ramp, Spread
from gradcli.pictures.plot import MARKERS, plot
from gradcli.pictures.plot import RULE as RULE_MARK
from gradcli.pictures.text import Picture, wrapped
from gradcli.render.rows import write_rows

if TYPE_CHECKING:
    from gradcli.output import Output

HEADER = ("step", "lr", "loss", "smoothed", "seed")
POSITIONS = 10_000  # the x axis's positions: log10(lr) from start to end, made integers


def rows(curves: list[Curve]) -> list[dict[str, Any]]:
    return [
        {"step": p.step, "lr": p.lr, "loss": p.loss, "smoothed": p.smoothed, "seed": c.seed}
        for c in curves
        for p in c.points
    ]


def position(lr: float, ramp: Ramp) -> int:
    """Where ``lr`` stands on the picture's log-lr axis."""
    share = math.log(lr / ramp.start) / math.log(ramp.end / ramp.start)
    return round(share * POSITIONS)


def pictures(curves: list[Curve], spread: Spread | None, ramp: Ramp, width: int) -> list[Picture]:
    """The smoothed loss of each seed against lr (log scale), the suggestion as a vertical
    line, and under it the suggestion, the rule and where each test stopped. More seeds than
    markers: panels on the same axes, each seed with a marker of its own."""
    panels = [curves[k : k + len(MARKERS)] for k in range(0, len(curves), len(MARKERS))]
    drawn = []
    for k, panel in enumerate(panels):
        series = {f"seed {c.seed}" if len(curves) > 1 else "smoothed loss": c for c in panel}
        drawn.append(
            plot(
                {name: [p.smoothed for p in c.points] for name, c in series.items()},
                steps={
                    name: [position(p.lr, ramp) for p in c.points] for name, c in series.items()
                },
                width=width,
                title=f"smoothed loss, β = {curves[0].beta:g}",
                note="" if len(panels) == 1 else f" · panel {k + 1} of {len(panels)}, same axes",
                x_label="lr (log scale)",
                spans=([p.smoothed for c in curves for p in c.points], [0, POSITIONS]),
                x_ends=(f"{ramp.start:.3g}", f"{ramp.end:.3g}"),
                rule_at=None if spread is None else position(spread.median, ramp),
            )
        )
    if spread is None:
        words = ["no suggestion: the smoothed loss never fell; try a smaller --start-lr"]
    else:
        words = [f"{RULE_MARK} suggested lr: {spread.describe()}", f"rule: {RULE}"]
    for c in curves:
        seed = f"seed {c.seed}: " if len(curves) > 1 else ""
        ran = f"ran all {len(c.points)} steps of the ramp"
        words.append(f"{seed}stopped at {c.stopped}" if c.stopped else seed + ran)
    last = drawn[-1]
    for entry in words:
        last.extend(wrapped([entry], width))
    return drawn


def show(
    output: Output,
    curves: list[Curve],
    spread: Spread | None,
    ramp: Ramp,
) -> None:
    """The one place lr-find's format becomes its writer."""
    fmt = output.format
    if fmt == "auto":
        fmt = "plot" if sys.stdout.isatty() else "number"
    if fmt == "plot":
        from gradcli.pictures.drawing import show as show_pictures
        from gradcli.pictures.drawing import width_of

        show_pictures(
            pictures(curves, spread, ramp, width_of(sys.stdout, output)), output, sys.stdout
        )
        return
    if spread is not None:
        output.say(f"gradcli: suggested lr {spread.describe()}: {RULE}")
    for c in curves:
        if c.stopped:
            seed = f" (seed {c.seed})" if len(curves) > 1 else ""
            output.say(f"gradcli: lr-find{seed} stopped at {c.stopped}")
    if fmt == "number":
        if spread is not None:
            sys.stdout.write(f"{spread.median!r}\n")
            sys.stdout.flush()
        return
    write_rows(sys.stdout, fmt, rows(curves), HEADER)
