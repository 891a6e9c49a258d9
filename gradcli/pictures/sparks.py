"""One sparkline row per parameter: a norm over the run, on one log scale shared by all
rows, so a layer whose gradient vanishes or explodes stands out at a glance."""

from __future__ import annotations

import math

from gradcli.pictures.plot import x_axis
from gradcli.pictures.text import wrapped

SPARKS = "▁▂▃▄▅▆▇█"
ZERO = " "  # a norm of exactly 0 (no log scale reaches it)
NOT_FINITE = "!"


def _cells(values: list[float], count: int) -> list[float]:
    """``values`` in ``count`` buckets of consecutive steps, each its largest (a spike in
    one step still shows); non-finite wins."""
    cells = []
    for j in range(count):
        bucket = values[j * len(values) // count : (j + 1) * len(values) // count]
        bad = [v for v in bucket if not math.isfinite(v)]
        cells.append(bad[0] if bad else max(bucket))
    return cells


def spark(value: float, low: float, high: float) -> str:
    if not math.isfinite(value):
        return NOT_FINITE
    if value <= 0:
        return ZERO
    if high <= low:
        return SPARKS[len(SPARKS) // 2]
    at = (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))
    return SPARKS[min(len(SPARKS) - 1, max(0, round(at * (len(SPARKS) - 1))))]


def spark_rows(
    rows: dict[str, tuple[list[int], list[float]]], *, width: int = 80, title: str
) -> list[str]:
    """Lines: a title with the shared scale, one row per name (its steps and values), and
    the steps below. Each row ends with its first and last value."""
    rows = {name: (steps, values) for name, (steps, values) in rows.items() if values}
    if not rows:
        return [f"{title}: nothing to draw"]
    positive = [v for _, values in rows.values() for v in values if math.isfinite(v) and v > 0]
    low, high = (min(positive), max(positive)) if positive else (1.0, 1.0)
    ends = {name: f"{values[0]:.3g} → {values[-1]:.3g}" for name, (_, values) in rows.items()}
    name_width = min(max(map(len, rows)), width // 3)  # a longer name has a line of its own
    end_width = max(map(len, ends.values()))
    room = max(8, width - name_width - end_width - 6)
    longest = max(len(values) for _, values in rows.values())
    count = min(room, longest)
    scale = f"(log scale shared by the rows: ▁ {low:.3g} … █ {high:.3g})"
    lines = wrapped([title, scale], width, hanging=2, separator=" ")
    for name, (_, values) in rows.items():
        line = "".join(spark(v, low, high) for v in _cells(values, min(count, len(values))))
        shown = name
        if len(name) > name_width:
            lines += wrapped([name], width, indent=2, hanging=4)
            shown = ""
        lines.append(f"  {shown.ljust(name_width)}  {line.ljust(count)}  {ends[name]}")
    steps = [s for s_, _ in rows.values() for s in s_]
    first, last = str(min(steps)), str(max(steps))
    lines.append(" " * (name_width + 4) + x_axis(first, "step", last, count))
    notes = []
    if any(v == 0 for _, values in rows.values() for v in values):
        notes.append(f"{ZERO!r}: exactly 0")
    if any(not math.isfinite(v) for _, values in rows.values() for v in values):
        notes.append(f"{NOT_FINITE}: not finite")
    if notes:
        lines += wrapped(notes, width, indent=name_width + 4)
    return lines
