"""Paths on a loss surface as text: the loss shaded over a region that fits the paths, each
run's path in its marker, start and ends marked, the minima, a legend.

Plain characters only (as in ``plot.py``), the same in any terminal, file and test. The
surface is a contour map: the loss at each cell's centre falls in one of ``len(SHADES)``
bands, spaced evenly on a log scale when the loss spans two decades or more, and the edge
of each band is drawn in its character.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

from gradcli.pictures.plot import LABEL_WIDTH, OVERLAP, axis_labels, marker, x_axis
from gradcli.pictures.text import Picture, wrap, wrapped
from gradcli.surfaces import Point, nearest

SHADES = " .:-=≡"  # low to high loss: the valley floor stays blank, the paths show on it
START = "S"
MINIMUM = "M"
ENDS = "123456789"  # the end of run i is its number


def fmt(x: float) -> str:
    return f"{x:.3g}"


def point_text(point: Sequence[float]) -> str:
    return "(" + ", ".join(fmt(v) for v in point) + ")"


class Region:
    """The rectangle drawn, and how a point maps to a cell of ``columns`` × ``rows``."""

    def __init__(self, points: list[Point], columns: int, rows: int) -> None:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        self.columns, self.rows = columns, rows
        self.x = self._padded(min(xs), max(xs))
        self.y = self._padded(min(ys), max(ys))

    @staticmethod
    def _padded(low: float, high: float) -> tuple[float, float]:
        span = high - low
        if span <= 1e-12 * max(1.0, abs(low), abs(high)):
            return low - 1, high + 1
        return low - 0.05 * span, high + 0.05 * span

    def at(self, point: Sequence[float]) -> tuple[float, float]:
        """The point in cell units: (column, row), row 0 at the top."""
        (x0, x1), (y0, y1) = self.x, self.y
        return (point[0] - x0) / (x1 - x0) * self.columns, (y1 - point[1]) / (y1 - y0) * self.rows

    def cell(self, point: Sequence[float]) -> tuple[int, int] | None:
        col, row = self.at(point)
        c, r = math.floor(col), math.floor(row)
        return (r, c) if 0 <= c < self.columns and 0 <= r < self.rows else None

    def centre(self, row: int, col: int) -> tuple[float, float]:
        (x0, x1), (y0, y1) = self.x, self.y
        return (
            x0 + (col + 0.5) / self.columns * (x1 - x0),
            y1 - (row + 0.5) / self.rows * (y1 - y0),
        )


def bands(values: list[float]) -> tuple[list[float], bool]:
    """The boundaries between the shades, and whether they are spaced on a log scale."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return [], False
    low, high = min(finite), max(finite)
    n = len(SHADES)
    if low > 0 and high / low >= 100:
        low = max(low, high * 1e-9)
        ratio = math.log(high / low)
        return [low * math.exp(ratio * k / n) for k in range(1, n)], True
    return [low + (high - low) * k / n for k in range(1, n)], False


def band(value: float, bounds: list[float]) -> int:
    """The band of ``value``: 0 below the first boundary; -1 where the loss is not finite."""
    if not math.isfinite(value):
        return -1
    return sum(1 for b in bounds if value >= b)


def contours(levels: list[list[int]]) -> list[list[str]]:
    """Contour lines: a cell shows its band's shade where a neighbour lies in a lower band
    (the upper edge of each boundary), and is blank elsewhere, so the paths stay legible."""
    rows, columns = len(levels), len(levels[0])
    grid = [[" "] * columns for _ in range(rows)]
    for r in range(rows):
        for c in range(columns):
            here = levels[r][c]
            around = [
                levels[r + dr][c + dc]
                for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                if 0 <= r + dr < rows and 0 <= c + dc < columns
            ]
            if here > 0 and any(0 <= other < here for other in around):
                grid[r][c] = SHADES[here]
    return grid


def _segment(region: Region, a: Point, b: Point) -> list[tuple[int, int]]:
    """The cells a straight line from ``a`` to ``b`` passes through (sampled finely)."""
    (ca, ra), (cb, rb) = region.at(a), region.at(b)
    samples = max(1, math.ceil(2 * max(abs(cb - ca), abs(rb - ra))))
    cells = []
    for k in range(samples + 1):
        t = k / samples
        col, row = ca + t * (cb - ca), ra + t * (rb - ra)
        c, r = math.floor(col), math.floor(row)
        if 0 <= c < region.columns and 0 <= r < region.rows:
            cells.append((r, c))
    return cells


def path_picture(
    paths: dict[str, list[Point]],
    *,
    axes: tuple[str, str],
    loss: Callable[[float, float], float] | None = None,
    minima: Sequence[Point] = (),
    width: int = 80,
    height: int = 20,
    note: str = "",
    end_losses: dict[str, float] | None = None,
) -> Picture:
    """Lines of the picture: each path is the points a run went through, in order; its
    marks are the cells of the paths, minima, starts, ends and contours, and the legend's
    markers. ``note`` follows the title. ``end_losses``: the loss at a run's final
    parameters as its summary says it (in the run's dtype), shown at its end instead of
    ``loss`` there in float64, so that one output never shows two final losses."""
    finite = {
        label: [p for p in points if all(math.isfinite(v) for v in p)]
        for label, points in paths.items()
    }
    finite = {label: points for label, points in finite.items() if points}
    if not finite:
        return Picture(["path: no finite point to draw"])
    ends = {label: points[-1] for label, points in finite.items()}
    nearest_minima = {label: nearest(end, minima) for label, end in ends.items()} if minima else {}
    around = [p for points in finite.values() for p in points]
    around += [m for m, _ in nearest_minima.values()]
    # the y labels decide the margin, the margin the columns: rows first, then the region
    rows = height
    probe = Region(around, 10, rows)
    y_labels = axis_labels([probe.y[1], (probe.y[0] + probe.y[1]) / 2, probe.y[0]])
    label_width = max(LABEL_WIDTH, max(map(len, y_labels)) + 2)
    columns = max(10, width - label_width - 1)
    region = Region(around, columns, rows)

    grid = [[" "] * columns for _ in range(rows)]
    bounds: list[float] = []
    log = False
    if loss is not None:
        values = [[loss(*region.centre(r, c)) for c in range(columns)] for r in range(rows)]
        bounds, log = bands([v for row in values for v in row])
        grid = contours([[band(v, bounds) for v in row] for row in values])
    shown_minima = [m for m in minima if region.cell(m) is not None]
    for m in shown_minima:
        r, c = region.cell(m)  # type: ignore[misc]
        grid[r][c] = MINIMUM
    passing: dict[tuple[int, int], set[int]] = {}
    for index, points in enumerate(finite.values()):
        cells = [cell for a, b in itertools.pairwise(points) for cell in _segment(region, a, b)]
        cells += [c for c in [region.cell(points[0])] if c is not None]
        for cell in cells:
            passing.setdefault(cell, set()).add(index)
    for (r, c), through in passing.items():
        grid[r][c] = OVERLAP if len(through) > 1 else marker(min(through))
    ended: dict[tuple[int, int], list[int]] = {}
    for index, end in enumerate(ends.values()):
        cell = region.cell(end)
        if cell is not None:
            ended.setdefault(cell, []).append(index)
    for (r, c), who in ended.items():
        grid[r][c] = OVERLAP if len(who) > 1 else ENDS[who[0] % len(ENDS)]
    starts = {region.cell(points[0]) for points in finite.values()} - {None}
    for r, c in starts:  # type: ignore[misc]
        grid[r][c] = START

    scale = "log " if log else ""
    title = f"path on the loss surface ({axes[1]} up, {axes[0]} across; {scale}contours){note}"
    picture = Picture(wrapped([title], width, hanging=2, separator=" "))
    labelled = [0, rows // 2, rows - 1]
    for row, cells in enumerate(grid):
        if row in labelled:
            prefix = y_labels[labelled.index(row)].rjust(label_width - 2) + " ┤"
        else:
            prefix = " " * (label_width - 2) + " │"
        marked = [len(prefix) + c for c, cell in enumerate(cells) if cell != " "]
        picture.add(prefix + "".join(cells), marked)
    picture.append(" " * (label_width - 1) + "└" + "─" * columns)
    low, high = axis_labels([region.x[0], region.x[1]])
    picture.append(" " * label_width + x_axis(low, axes[0], high, columns))
    if bounds:
        levels = [f"{SHADES[k + 1]} {fmt(b)}" for k, b in enumerate(bounds)]
        levels[0] = f"contours at loss: {levels[0]}"
        picture += wrapped(
            levels, width, indent=label_width, hanging=label_width + 2, separator="  "
        )
    legend = [
        f"{marker(i)} {label} (ends at {ENDS[i % len(ENDS)]})" for i, label in enumerate(finite)
    ]
    legend.append(f"{START} start")
    if shown_minima:
        legend.append(f"{MINIMUM} minimum")
    if any(len(t) > 1 for t in passing.values()) or any(len(w) > 1 for w in ended.values()):
        legend.append(f"{OVERLAP} two or more at once")
    picture.add_all(wrap(legend, width, indent=label_width, keys=1))
    for label, end in ends.items():
        where = [f"{label}: ends at {point_text(end)}"]
        if end_losses and label in end_losses and end is paths[label][-1]:
            where.append(f"loss {end_losses[label]:.6g}")
        elif loss is not None:
            where.append(f"loss {loss(*end[:2]):.6g} (in float64)")
        if label in nearest_minima:
            minimum, distance = nearest_minima[label]
            where.append(f"{distance:.3g} from the minimum {point_text(minimum)}")
        picture += wrapped(_commas(where), width, indent=2, hanging=4, separator=" ")
    return picture


def _commas(parts: list[str]) -> list[str]:
    """Parts of a sentence, each but the last ending in its comma (the places it may wrap)."""
    return [f"{part}," for part in parts[:-1]] + parts[-1:]
