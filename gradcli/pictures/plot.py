"""Loss curves as text: one marker per series on a character grid, log scale when it fits.

Plain characters only, so the plot reads the same in any terminal, in a file and in a test.
Written by hand rather than with a terminal plotting library (plotille, uniplot): theirs
tell series apart by colour alone (with NO_COLOR two braille curves look the same), have no
contour map for the path picture, and their braille dots (2×4 to a cell) move with a value's
last digits far more often than a whole cell does, which golden tests cannot allow.
"""

from __future__ import annotations

import math

MARKERS = "•+x*o#@%"
OVERLAP = "&"  # a cell that two or more series pass through
LABEL_WIDTH = 10  # at least: the labels of the y axis and " ┤"


def axis_labels(values: list[float]) -> list[str]:
    """The axis labels: three significant digits, or as many more as it takes to tell apart
    values that differ (a loss from 2 to 1.99833 is not ``2 / 2 / 2``)."""
    for digits in range(3, 18):
        texts = [f"{v:.{digits}g}" for v in values]
        if len(set(texts)) == len(set(values)):
            break
    return texts


def plot(
    series: dict[str, list[float]],
    *,
    width: int = 72,
    height: int = 14,
    title: str = "loss",
    steps: dict[str, list[int]] | None = None,
    x_label: str = "step",
) -> list[str]:
    """Lines of a plot of each series against its index, or against its ``steps`` (the
    axis named ``x_label``).

    The y axis is logarithmic when every finite value is positive; non-finite values are
    left out. A cell that several series pass through shows ``OVERLAP`` (the legend says so),
    so no curve hides another unannounced.
    """
    finite = [y for ys in series.values() for y in ys if math.isfinite(y)]
    if not finite:
        return [f"{title}: nothing finite to plot"]
    log = min(finite) > 0
    scale = math.log10 if log else float
    low, high = scale(min(finite)), scale(max(finite))
    if high - low < 1e-12:
        low, high = low - 1, high + 1
    labelled = [0, height // 2, height - 1]
    labels = axis_labels(
        [10**y if log else y for y in (high - r / (height - 1) * (high - low) for r in labelled)]
    )
    label_width = max(LABEL_WIDTH, max(map(len, labels)) + 2)
    columns = max(10, width - label_width - 1)
    xs = steps or {name: list(range(len(ys))) for name, ys in series.items()}
    first = min((x for name in series for x in xs[name][:1]), default=0)
    last = max((x for name in series for x in xs[name][-1:]), default=0)
    passing: dict[tuple[int, int], set[int]] = {}  # (row, column) -> the series through it
    for index, (name, ys) in enumerate(series.items()):
        for x, y in zip(xs[name], ys, strict=True):
            if not math.isfinite(y):
                continue
            col = round((x - first) / max(1, last - first) * (columns - 1))
            row = round((high - scale(y)) / (high - low) * (height - 1))
            passing.setdefault((row, col), set()).add(index)
    grid = [[" "] * columns for _ in range(height)]
    for (row, col), through in passing.items():
        grid[row][col] = OVERLAP if len(through) > 1 else (MARKERS * 8)[min(through)]
    lines = [f"{title}{' (log scale)' if log else ''}"]
    for row, cells in enumerate(grid):
        if row in labelled:
            prefix = labels[labelled.index(row)].rjust(label_width - 2) + " ┤"
        else:
            prefix = " " * (label_width - 2) + " │"
        lines.append(prefix + "".join(cells))
    lines.append(" " * (label_width - 1) + "└" + "─" * columns)
    low, high = str(first), str(last)
    lines.append(" " * label_width + low + x_label.center(columns - len(low) - len(high)) + high)
    legend = [f"{m} {name}" for m, name in zip(MARKERS * 8, series, strict=False)]
    if any(len(through) > 1 for through in passing.values()):
        legend.append(f"{OVERLAP} two or more at once")
    shelf = ""  # the legend, wrapped between its entries to the plot's width
    for entry in legend:
        if shelf and label_width + len(shelf) + 3 + len(entry) > width:
            lines.append(" " * label_width + shelf)
            shelf = entry
        else:
            shelf = f"{shelf}   {entry}" if shelf else entry
    lines.append(" " * label_width + shelf)
    return lines
