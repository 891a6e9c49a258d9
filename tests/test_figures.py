"""Figures for files (``--plot-file`` .svg, .png, .pdf): real matplotlib figures drawn from
the records, the same bytes every time, matplotlib imported only when one is written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("matplotlib")

from gradcli.pictures import figures
from gradcli.pictures.figures import COLOURS

SVG = "{http://www.w3.org/2000/svg}"
COMPARE = ["compare", "-m", "rosenbrock", "--steps", "40", "-o", "sgd", "-o", "adam"]
COMPARE += ["-o", "rmsprop", "-f", "jsonl", "-q"]


def _points(records: str) -> list[tuple[float, float]]:
    return [tuple(json.loads(line)["params"]["xy"]["value"]) for line in records.splitlines()]


def _line_points(root: ET.Element, gid: str) -> list[tuple[float, float]]:
    """The vertices of the line drawn with the ``gid`` (a run's path), in SVG pixels."""
    group = next(g for g in root.iter(f"{SVG}g") if g.get("id") == gid)
    d = next(p.get("d") for p in group.iter(f"{SVG}path") if p.get("d", "").startswith("M"))
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


@pytest.mark.slow
def test_the_svg_path_is_the_records_points_on_the_axes(invoke, tmp_path):
    records = invoke("optim", "-m", "himmelblau", "--steps", "25", "-f", "jsonl").stdout
    target, saved = tmp_path / "run.svg", tmp_path / "run.jsonl"
    saved.write_text(records)
    result = invoke("plot", str(saved), "--plot-file", str(target), "-q")
    assert result.exit_code == 0, result.stderr
    root = ET.parse(target).getroot()  # valid XML
    assert root.tag == f"{SVG}svg"
    drawn_points, points = _line_points(root, "gradcli-path-0"), _points(records)
    assert len(drawn_points) == len(points) == 26
    # an affine map per axis (y flipped: SVG's y grows downward) takes every record's point
    # to its vertex; the two farthest apart fix it, the rest must agree to a hundredth px
    for k in (0, 1):
        lo = min(range(26), key=lambda i: points[i][k])
        hi = max(range(26), key=lambda i: points[i][k])
        scale = (drawn_points[hi][k] - drawn_points[lo][k]) / (points[hi][k] - points[lo][k])
        assert (scale > 0) if k == 0 else (scale < 0)
        for point, vertex in zip(points, drawn_points, strict=True):
            expected = drawn_points[lo][k] + (point[k] - points[lo][k]) * scale
            assert vertex[k] == pytest.approx(expected, abs=0.01)


@pytest.mark.slow
def test_the_png_has_contours_and_three_distinct_paths(invoke, tmp_path):
    import matplotlib.image

    target = tmp_path / "cmp.png"
    result = invoke(*COMPARE, "--plot-file", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # -q
    pixels = (matplotlib.image.imread(target)[..., :3] * 255).round().astype(int)
    colours = {tuple(p) for p in pixels.reshape(-1, 3).tolist()}
    for colour in COLOURS[:3]:  # each run's own colour is drawn
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, colour
    assert len(colours) > 50  # shaded contours, not a few flat colours


@pytest.mark.slow
def test_the_figure_has_line_contours_and_a_line_per_run(invoke):
    from gradcli.output import Output
    from gradcli.pictures import drawing as drawn
    from gradcli.pictures.saved import choose_surface
    from gradcli.saved_runs import Run

    runs = []
    for spec in ("sgd", "adam", "rmsprop"):
        out = invoke("optim", "-m", "rosenbrock", "--steps", "30", "-o", spec, "-f", "jsonl")
        runs.append(Run(spec, [json.loads(line) for line in out.stdout.splitlines()]))
    surface = choose_surface("rosenbrock", runs, Output("table", True, None))
    surface_map = drawn.SurfaceMap(("x", "y"), surface.loss, surface.minima)
    fig = figures.figure(runs, ["loss", "path"], surface_map=surface_map)
    _, path_axes = fig.axes
    assert len(path_axes.collections) >= 2  # filled and line contours
    paths = [line for line in path_axes.lines if (line.get_gid() or "").startswith("gradcli")]
    assert [line.get_color() for line in paths] == list(COLOURS[:3])
    assert len({(line.get_linestyle(), line.get_marker()) for line in paths}) == 3  # greyscale
    levels = path_axes.collections[-1].levels
    assert levels[-1] / levels[0] > 1000 and levels[2] / levels[1] == pytest.approx(
        levels[1] / levels[0]
    )  # log-spaced: Rosenbrock's loss spans decades


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["svg", "png", "pdf"])
def test_each_format_and_the_same_bytes_every_time(invoke, tmp_path, suffix):
    first, second = tmp_path / f"a.{suffix}", tmp_path / f"b.{suffix}"
    args = ["optim", "-m", "beale", "--steps", "10", "-q"]
    assert invoke(*args, "--plot-file", str(first)).exit_code == 0
    assert invoke(*args, "--plot-file", str(second)).exit_code == 0
    content = first.read_bytes()
    assert content == second.read_bytes()
    magic = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF"}[suffix]
    assert content.startswith(magic)


def test_without_matplotlib_one_line_names_the_extra(invoke, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    target = tmp_path / "run.svg"
    result = invoke("optim", "-m", "beale", "--steps", "3", "-q", "--plot-file", str(target))
    assert result.exit_code == 2 and not target.exists()
    assert result.stderr == (
        "gradcli: error: figures need matplotlib, which is not installed: "
        "pip install 'gradcli[plot]'\n"
    )


@pytest.mark.slow
def test_ddp_writes_the_figure_of_rank_0(tmp_path):
    target = tmp_path / "ddp.svg"
    args = ["ddp", "--nproc", "2", "--steps", "3", "-f", "jsonl", "--plot-file", str(target)]
    done = subprocess.run(
        [sys.executable, "-m", "gradcli", *args], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith(f"gradcli: wrote loss, grad-norm to {target}\n")
    assert [json.loads(line)["step"] for line in done.stdout.splitlines()] == [0, 1, 2, 3]
    root = ET.parse(target).getroot()
    text = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    assert {"sgd (ddp, 2 ranks), lr=0.1", "linear.weight", "linear.bias"} <= text
