"""The pictures of runs as real figures for a file (``--plot-file``, ``gradcli report``):
matplotlib, its non-interactive Agg backend, imported only here and only when a file is
written. Drawn from the same records as the terminal pictures (``drawing.py``): the loss
surface as filled and line contours with each run's path on it, the loss curves on a log
axis, per-parameter gradient and update norms, the lr.

Runs are told apart by colour (Okabe and Ito's palette, safe for colour-blind readers) and
by line style and marker as well, so that a greyscale print still tells them apart. The
files are deterministic: no dates, a fixed SVG id salt, the same bytes for the same runs.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gradcli.errors import GradcliError
from gradcli.pictures import drawing as drawn
from gradcli.saved_runs import Run
from gradcli.surfaces import nearest

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

EXTRA = "pip install 'gradcli[plot]'"
# Okabe & Ito (2008), "Color Universal Design", most distinct first (their yellow last)
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
GRID = 80  # the loss surface is computed at GRID × GRID points (a smooth line at 80)
RC = {
    "svg.hashsalt": "gradcli",  # the same ids in every file, not random ones
    "svg.fonttype": "none",  # text as text: searchable, and small
    "path.simplify": False,  # every point a run went through, as in its records
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
METADATA: dict[str, dict[str, Any]] = {  # no dates, no version: the same file every time
    "svg": {"Date": None, "Creator": "gradcli"},
    "png": {"Software": "gradcli"},
    "pdf": {"CreationDate": None, "Creator": "gradcli", "Producer": "gradcli"},
}


def style(index: int) -> dict[str, Any]:
    """The colour, line style and marker of the run (or series) at ``index``."""
    return {
        "color": COLOURS[index % len(COLOURS)],
        "linestyle": LINE_STYLES[index % len(LINE_STYLES)],
        "marker": MARKERS[index % len(MARKERS)],
    }


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed: over ssh, in CI), or the
    one-line error that names the extra."""
    try:
        import matplotlib
    except ImportError:
        raise GradcliError(f"figures need matplotlib, which is not installed: {EXTRA}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def figure(
    runs: Sequence[Run],
    kinds: Sequence[str],
    *,
    surface_map: drawn.SurfaceMap | None = None,
    title: str = "",
) -> Figure:
    """The figure: one panel per picture (a norm picture: one per run), two to a row."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    panels: list[tuple[str, list[Run]]] = []
    for kind in kinds:
        if kind in ("grad-norm", "update-norm"):
            panels += [(kind, [run]) for run in runs]
        else:
            panels.append((kind, list(runs)))
    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    with plt.rc_context(RC):
        fig, grid = plt.subplots(
            rows, columns, figsize=(6.2 * columns, 4.6 * rows), squeeze=False, layout="constrained"
        )
        for (kind, shown), ax in zip(panels, grid.flat, strict=False):
            DRAWERS[kind](ax, shown, surface_map, len(runs) > 1)
            if kind != "path":  # steps and epochs are whole numbers
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in list(grid.flat)[len(panels) :]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
    return fig


def name(run: Run) -> str:
    """A run's name in a legend, with its settings: its label and its lr."""
    if run.lr is None or "lr=" in run.label:
        return run.label
    return f"{run.label}, lr={run.lr:g}"


def _every(count: int) -> int:
    """A marker every so many points: about ten along a line."""
    return max(1, count // 10)


def _log_if_positive(ax: Axes, values: Sequence[float]) -> None:
    finite = [v for v in values if math.isfinite(v)]
    if finite and min(finite) > 0:
        ax.set_yscale("log")


def _loss(ax: Axes, runs: list[Run], surface_map: Any, several: bool) -> None:
    if all(run.epochs for run in runs):  # on --data: per epoch, train and held out
        everything: list[float] = []
        for i, run in enumerate(runs):
            for part, key in (("train", "train_loss"), ("val", "val_loss")):
                pairs = [(e["epoch_end"], float(e[key])) for e in run.epochs if e[key] is not None]
                if not pairs:
                    continue
                look = style(i) | ({"linestyle": "--"} if part == "val" else {"linestyle": "-"})
                if part == "val":
                    look["marker"] = "o"
                xs, ys = zip(*pairs, strict=True)
                label = f"{name(run)}: {part}" if several else part
                ax.plot(xs, ys, label=label, markevery=_every(len(xs)), **look)
                everything += ys
        ax.set_xlabel("epoch")
        ax.set_title("loss per epoch: train (mean over its batches), val (held out)")
    else:
        everything = []
        for i, run in enumerate(runs):
            steps, values = drawn.losses(run)
            ax.plot(steps, values, label=name(run), markevery=_every(len(steps)), **style(i))
            everything += values
        ax.set_xlabel("step")
        ax.set_title("loss")
    _log_if_positive(ax, everything)
    ax.set_ylabel("loss")
    ax.legend()


def _lr(ax: Axes, runs: list[Run], surface_map: Any, several: bool) -> None:
    everything: list[float] = []
    for i, run in enumerate(runs):
        steps, values = drawn.lrs(run)
        ax.plot(steps, values, label=name(run), markevery=_every(len(steps)), **style(i))
        everything += values
    if not everything:
        ax.text(0.5, 0.5, "these records carry no lr", ha="center", transform=ax.transAxes)
    _log_if_positive(ax, everything)
    ax.set(title="learning rate", xlabel="step", ylabel="lr")
    if everything:
        ax.legend()


def _norms(ax: Axes, runs: list[Run], key: str, several: bool) -> None:
    (run,) = runs
    rows = drawn.norms(run, key)
    for i, (name, (steps, values)) in enumerate(rows.items()):
        ax.plot(steps, values, label=name, markevery=_every(len(steps)), **style(i))
    _log_if_positive(ax, [v for _, values in rows.values() for v in values])
    title = f"{key} norm per parameter" + (f": {run.label}" if several else "")
    ax.set(title=title, xlabel="step", ylabel=f"‖{key}‖₂")
    if rows:
        ax.legend(fontsize=7, ncols=2 if len(rows) > 6 else 1)


def _path(ax: Axes, runs: list[Run], surface_map: drawn.SurfaceMap | None, several: bool) -> None:
    if surface_map is None:
        raise GradcliError(
            "--plot path: needs records of a problem with exactly two trainable "
            "elements (these have more)"
        )
    every = {
        label: [p for p in points if all(math.isfinite(v) for v in p)]
        for label, points in drawn.paths(runs).items()
    }
    ends = {label: points[-1] for label, points in every.items() if points}
    minima = list(surface_map.minima)
    nearest_minima = {label: nearest(end, minima) for label, end in ends.items()} if minima else {}
    around = [p for points in every.values() for p in points]
    around += [m for m, _ in nearest_minima.values()]
    if not around:
        ax.text(0.5, 0.5, "no finite point to draw", ha="center", transform=ax.transAxes)
        return
    (x0, x1), (y0, y1) = (_padded([p[k] for p in around]) for k in (0, 1))
    if surface_map.loss is not None:
        _contours(ax, surface_map.loss, (x0, x1), (y0, y1))
    for i, (label, points) in enumerate(every.items()):
        if not points:
            continue
        look = style(i)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        run = next(r for r in runs if r.label == label)
        end_text = f"{name(run)} (ends at loss {_end_loss(run)})"
        (line,) = ax.plot(
            xs, ys, label=end_text, markevery=_every(len(xs)), markersize=4, linewidth=1.4, **look
        )
        line.set_gid(f"gradcli-path-{i}")
        ax.plot(
            xs[-1],
            ys[-1],
            marker=look["marker"],
            markersize=10,
            color=look["color"],
            markeredgecolor="white",
            zorder=5,
        )
        if label in nearest_minima:
            (mx, my), _ = nearest_minima[label]
            ax.plot([xs[-1], mx], [ys[-1], my], color=look["color"], linestyle=":", linewidth=0.8)
    starts = {points[0] for points in every.values() if points}
    ax.plot(
        [s[0] for s in starts],
        [s[1] for s in starts],
        linestyle="none",
        marker="o",
        markersize=9,
        markerfacecolor="white",
        markeredgecolor="black",
        label="start",
        zorder=6,
    )
    if minima:
        shown = [m for m in minima if x0 <= m[0] <= x1 and y0 <= m[1] <= y1]
        ax.plot(
            [m[0] for m in shown],
            [m[1] for m in shown],
            linestyle="none",
            marker="*",
            markersize=13,
            color="black",
            markerfacecolor="white",
            label="minimum",
            zorder=6,
        )
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel=surface_map.axes[0], ylabel=surface_map.axes[1])
    ax.set_title("path on the loss surface" if surface_map.loss else "path")
    ax.grid(False)
    ax.legend(fontsize=7, loc="best")


def _end_loss(run: Run) -> str:
    final = run.final_loss
    if final is None:
        _, values = drawn.losses(run)
        final = values[-1] if values else None
    return "?" if final is None else f"{final:.4g}"


def _padded(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    span = high - low
    if span <= 1e-12 * max(1.0, abs(low), abs(high)):
        return low - 1, high + 1
    return low - 0.08 * span, high + 0.08 * span


def _contours(ax: Axes, loss: Any, xs: tuple[float, float], ys: tuple[float, float]) -> None:
    """Filled and line contours of ``loss`` over the rectangle: log-spaced levels where the
    loss spans more than two decades (a valley and its rims both show), else even ones."""
    import numpy as np
    from matplotlib.colors import LogNorm

    gx, gy = np.linspace(*xs, GRID), np.linspace(*ys, GRID)
    z = np.array([[loss(float(x), float(y)) for x in gx] for y in gy], dtype=float)
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return
    if low > 0 and high / low > 100:
        levels = np.geomspace(low, high, 16)
        norm: Any = LogNorm(low, high)
    else:
        levels, norm = np.linspace(low, high, 16), None
    ax.contourf(gx, gy, z, levels=levels, norm=norm, cmap="Greys_r", alpha=0.45)
    ax.contour(gx, gy, z, levels=levels, norm=norm, colors="#555555", linewidths=0.5)


DRAWERS = {
    "loss": _loss,
    "lr": _lr,
    "path": _path,
    "grad-norm": lambda ax, runs, _map, several: _norms(ax, runs, "grad", several),
    "update-norm": lambda ax, runs, _map, several: _norms(ax, runs, "update", several),
}


def render(fig: Figure, kind: str) -> bytes:
    """The figure in ``kind`` ("svg", "png", "pdf"), deterministic, and the figure closed."""
    plt = _pyplot()
    buffer = io.BytesIO()
    try:
        with plt.rc_context(RC):
            fig.savefig(buffer, format=kind, metadata=METADATA[kind], dpi=110)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def write(
    path: str,
    runs: Sequence[Run],
    kinds: Sequence[str],
    *,
    surface_map: drawn.SurfaceMap | None,
    title: str,
) -> None:
    """The figure to ``path``, its format from the suffix, written atomically."""
    from gradcli.pictures import files

    files.check_target(path)
    kind = path.rsplit(".", 1)[-1].lower()
    files.write(path, render(figure(runs, kinds, surface_map=surface_map, title=title), kind))
