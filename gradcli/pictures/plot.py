"""Loss curves as text: one marker per series on a character grid, log scale when it fits.

Plain characters only, so the plot reads the same in any terminal, in a file and in a test.
Written by hand rather than with a terminal plotting library (plotille, uniplot): theirs
tell series apart by colour alone (with NO_COLOR two braille curves look the same), have no
contour map for the path picture, and their braille dots (2×4 to a cell) move with a value's
last digits far more often than a whole cell does, which golden tests cannot allow.
"""

from __future__ import annotations

import math
from typing import Any

from gradcli.pictures.text import Picture, wrap, wrapped

MARKERS = "•+x*o#@%"
OVERLAP = "&"  # a cell that two or more series pass through
RULE = "┆"  # a vertical line at one x (``plot``'s ``rule_at``): where a value was read
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
    spans: tuple[list[float], list[int]] | None = None,
    note: str = "",
    x_ends: tuple[str, str] | None = None,
    rule_at: int | None = None,
) -> Picture:
    """Lines of a plot of each series against its index, or against its ``steps`` (the
    axis named ``x_label``); its markers and the legend's are the picture's marks.

    The y axis is logarithmic when every finite value is positive; non-finite values are
    left out. A cell that several series pass through shows ``OVERLAP`` (the legend says so),
    so no curve hides another unannounced. ``spans``: the values and steps the axes span,
    where they are more than these series' (panels of one picture share their axes);
    ``note`` follows the title; ``x_ends`` label the ends of the x axis (default: the
    first and last step); ``rule_at``: a vertical line (``RULE``) at that x, through the
    cells no series passes through.
    """
    xs = steps or {name: list(range(len(ys))) for name, ys in series.items()}
    values, at = spans or ([y for ys in series.values() for y in ys], [])
    finite = [y for y in values if math.isfinite(y)]
    if not finite:
        return Picture(wrapped([f"{title}: nothing finite to plot"], width))
    log = min(finite) > 0
    scale = math.log10 if log else float
    low, high = scale(min(finite)), scale(max(finite))
    if high - low < 1e-12:
        low, high = low - 1, high + 1
    # half the span, which a float holds even where the span does not (-1.7e308 to 1.7e308);
    # halving is exact, so the rows are where the whole span puts them
    half = high / 2 - low / 2
    labelled = [0, height // 2, height - 1]
    labels = axis_labels([10**y if log else y for y in _levels(high, half, labelled, height)])
    label_width = max(LABEL_WIDTH, max(map(len, labels)) + 2)
    columns = max(10, width - label_width - 1)
    every = at or [x for name in series for x in xs[name]]
    first, last = min(every, default=0), max(every, default=0)
    passing: dict[tuple[int, int], set[int]] = {}  # (row, column) -> the series through it
    for index, (name, ys) in enumerate(series.items()):
        for x, y in zip(xs[name], ys, strict=True):
            if not math.isfinite(y):
                continue
            col = round((x - first) / max(1, last - first) * (columns - 1))
            row = round((high / 2 - scale(y) / 2) / half * (height - 1))
            passing.setdefault((row, col), set()).add(index)
    grid = [[" "] * columns for _ in range(height)]
    if rule_at is not None:
        col = round((rule_at - first) / max(1, last - first) * (columns - 1))
        for cells in grid:
            cells[col] = RULE
    for (row, col), through in passing.items():
        grid[row][col] = OVERLAP if len(through) > 1 else marker(min(through))
    picture = Picture(wrapped([f"{title}{' (log scale)' if log else ''}{note}"], width))
    for row, cells in enumerate(grid):
        if row in labelled:
            prefix = labels[labelled.index(row)].rjust(label_width - 2) + " ┤"
        else:
            prefix = " " * (label_width - 2) + " │"
        marked = [len(prefix) + c for c, cell in enumerate(cells) if cell != " "]
        picture.add(prefix + "".join(cells), marked)
    picture.append(" " * (label_width - 1) + "└" + "─" * columns)
    low, high = x_ends or (str(first), str(last))
    picture.append(" " * label_width + x_axis(low, x_label, high, columns))
    legend = [f"{marker(i)} {name}" for i, name in enumerate(series)]
    if any(len(through) > 1 for through in passing.values()):
        legend.append(f"{OVERLAP} two or more at once")
    picture.add_all(wrap(legend, width, indent=label_width, keys=1))
    return picture


def _levels(high: float, half: float, rows: list[int], height: int) -> list[float]:
    """The values at ``rows``, from ``high`` down over twice ``half``."""
    if math.isfinite(2 * half):
        return [high - r / (height - 1) * (2 * half) for r in rows]
    return [high - r / (height - 1) * half - r / (height - 1) * half for r in rows]


def marker(index: int) -> str:
    """The marker of the series at ``index`` (``panels`` keeps a picture to ``MARKERS``)."""
    return MARKERS[index % len(MARKERS)]


def x_axis(low: str, label: str, high: str, columns: int) -> str:
    """The step numbers at the ends of the x axis, its name between them (a space at
    least either side of it)."""
    middle = max(len(label) + 2, columns - len(low) - len(high))
    return low + label.center(middle) + high


def panels(
    series: dict[str, list[float]],
    *,
    steps: dict[str, list[int]] | None = None,
    title: str = "loss",
    **how: Any,
) -> list[Picture]:
    """One plot, or, for more series than ``MARKERS``, panels of as few as it takes, each
    on the same axes, so that every series of a panel has a marker of its own."""
    names = list(series)
    count = math.ceil(len(names) / len(MARKERS)) or 1
    if count == 1:
        return [plot(series, steps=steps, title=title, **how)]
    xs = steps or {name: list(range(len(ys))) for name, ys in series.items()}
    spans = ([y for ys in series.values() for y in ys], [x for n in names for x in xs[n]])
    size = math.ceil(len(names) / count)
    pictures = []
    for k in range(count):
        part = names[k * size : (k + 1) * size]
        pictures.append(
            plot(
                {n: series[n] for n in part},
                steps={n: xs[n] for n in part},
                title=title,
                note=f" · panel {k + 1} of {count}, on the same axes",
                spans=spans,
                **how,
            )
        )
    return pictures
