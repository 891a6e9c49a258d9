"""Loss curves as text: one marker per series on a character grid, log scale when it fits.

Plain characters only, so the plot reads the same in any terminal, in a file and in a test.
"""

from __future__ import annotations

import math

MARKERS = "•+x*o#@%"
LABEL_WIDTH = 10


def _label(y: float, log: bool) -> str:
    value = 10**y if log else y
    return f"{value:.3g}".rjust(LABEL_WIDTH - 2)


def plot(
    series: dict[str, list[float]], *, width: int = 72, height: int = 14, title: str = "loss"
) -> list[str]:
    """Lines of a plot of each series against its index (the step).

    The y axis is logarithmic when every finite value is positive; non-finite values are
    left out. Series are drawn in order, so a later marker covers an earlier one.
    """
    finite = [y for ys in series.values() for y in ys if math.isfinite(y)]
    if not finite:
        return [f"{title}: nothing finite to plot"]
    log = min(finite) > 0
    scale = math.log10 if log else float
    low, high = scale(min(finite)), scale(max(finite))
    if high - low < 1e-12:
        low, high = low - 1, high + 1
    columns = max(10, width - LABEL_WIDTH - 1)
    longest = max(len(ys) for ys in series.values())
    grid = [[" "] * columns for _ in range(height)]
    for marker, ys in zip(MARKERS * 8, series.values(), strict=False):
        for x, y in enumerate(ys):
            if not math.isfinite(y):
                continue
            col = round(x / max(1, longest - 1) * (columns - 1))
            row = round((high - scale(y)) / (high - low) * (height - 1))
            grid[row][col] = marker
    lines = [f"{title}{' (log scale)' if log else ''}"]
    for row, cells in enumerate(grid):
        if row in (0, height // 2, height - 1):
            y = high - row / (height - 1) * (high - low)
            prefix = _label(y, log) + " ┤"
        else:
            prefix = " " * (LABEL_WIDTH - 2) + " │"
        lines.append(prefix + "".join(cells))
    lines.append(" " * (LABEL_WIDTH - 1) + "└" + "─" * columns)
    last = str(longest - 1)
    lines.append(" " * LABEL_WIDTH + "0" + "step".center(columns - 1 - len(last)) + last)
    legend = "   ".join(f"{m} {name}" for m, name in zip(MARKERS * 8, series, strict=False))
    lines.append(" " * LABEL_WIDTH + legend)
    return lines
