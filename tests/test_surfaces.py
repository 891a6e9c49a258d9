"""The 2-D problems and the path picture: trajectories on the loss surface."""

from __future__ import annotations

import math
import re

import pytest
import torch
from lanes import fast_cases

from gradcli import problems
from gradcli.pictures.surface import path_picture
from gradcli.problems.plane import axis_names, loss_at
from gradcli.surfaces import SURFACES, nearest

CPU = torch.device("cpu")

# `gradcli compare -m rosenbrock -o sgd,adam --plot path` at 80 columns, in float64 (a
# float32 path's last digits depend on the CPU; these are the same everywhere)
GOLDEN = """\
path on the loss surface (xy[1] up, xy[0] across; log contours)
    2.72 ┤    ≡   =   =   + ≡
         │    ≡    =   =+++  ≡
         │     ≡    = ++++    ≡
         │     ≡    =++++      ≡           ••••                               ≡
         │      ≡  ++=+++=      ≡   ••••••••••                               ≡
         │      ≡++  ++++=  ••••••••       ••                               ≡
         │     ++≡   •••2•••     ≡       ••                                ≡
         │   &&•••••• =    =      ≡     ••                                ≡
         │   S    ≡    =    =      ≡  ••                                 ≡
         │        ≡     =   =      •••                                  ≡
    1.82 ┤         ≡    =    =  ••••  ≡                                ≡
         │         ≡     =   ••••      ≡                              ≡       =
         │          ≡     =••  =        ≡                           ≡≡       =
         │          ≡     =  1  =        ≡≡                        ≡         =
         │           ≡     =     =         ≡≡                    ≡≡         = -
         │            ≡     =    =           ≡≡                ≡≡          = -
         │            ≡     =     =            ≡≡≡          ≡≡≡           = -:
         │             ≡     =     ==             ≡≡≡≡≡≡≡≡≡≡             = -: -
         │              ≡     =      =                                  = -: -
   0.918 ┤              ≡      =      =                                = -:M:-
         └─────────────────────────────────────────────────────────────────────
          -2.15                           xy[0]                            1.15
          contours at loss: . 0.00939  : 0.0999  - 1.06  = 11.3  ≡ 120
          • sgd (ends at 1)   + adam (ends at 2)   S start   M minimum
          & two or more at once
  sgd: ends at (-1.21, 1.47), loss 4.88698, 2.26 from the minimum (1, 1)
  adam: ends at (-1.46, 2.15), loss 6.08343, 2.72 from the minimum (1, 1)
"""


@pytest.mark.slow
def test_compare_draws_both_paths_on_the_contours_at_80_columns(invoke):
    args = ["compare", "-m", "rosenbrock", "-o", "sgd,adam", "--plot", "path", "--dtype"]
    result = invoke(*args, "float64", "-f", "table", COLUMNS="80")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    picture = lines[lines.index(GOLDEN.splitlines()[0]) :]
    assert [line.rstrip() for line in picture] == GOLDEN.splitlines()
    assert max(map(len, picture)) <= 80


def test_the_float32_picture_has_every_part(invoke):
    result = invoke(
        "compare", "-m", "rosenbrock", "-o", "sgd,adam", "--plot", "path", "-f", "table"
    )
    out = result.stdout
    canvas = "".join(
        line.split("┤" if "┤" in line else "│", 1)[1]
        for line in out.splitlines()
        if line.startswith(" ") and ("┤" in line or "│" in line)
    )
    for mark in "S12M≡=•+":
        assert mark in canvas, mark
    assert "• sgd (ends at 1)   + adam (ends at 2)   S start   M minimum" in out
    assert "contours at loss: . " in out
    assert "sgd: ends at (" in out and "from the minimum (1, 1)" in out


@pytest.mark.parametrize("name", ["beale", "himmelblau", "rastrigin", "rosenbrock"])
def test_each_surface_is_zero_at_its_minima_and_starts_where_the_literature_does(name):
    surface = SURFACES[name]
    for x, y in surface.minima:
        assert surface.loss(x, y) == pytest.approx(0.0, abs=1e-9)
    problem = problems.build(name, seed=3, dtype=torch.float64, device=CPU)
    assert tuple(problem.xy.tolist()) == surface.start  # whatever the seed
    # the torch problem computes the same formula
    assert problem().item() == pytest.approx(surface.loss(*surface.start), rel=1e-12)
    assert axis_names(problem) == ["xy[0]", "xy[1]"]


def test_himmelblau_knows_its_four_minima_and_the_summary_names_the_nearest(invoke):
    result = invoke("optim", "-m", "himmelblau", "--steps", "30", "--every", "30", "-f", "table")
    assert result.exit_code == 0, result.stderr
    assert "distance to nearest minimum" in result.stdout
    assert "nearest minimum" in result.stdout and "[3, 2]" in result.stdout
    (point, distance) = nearest((-2.7, 3.0), SURFACES["himmelblau"].minima)
    assert point == SURFACES["himmelblau"].minima[1] and distance < 0.2


@pytest.mark.parametrize("name", fast_cases(["beale", "himmelblau", "rastrigin"]))
def test_the_classics_lower_the_loss_of_the_new_problems(invoke, name):
    import json

    result = invoke("compare", "-m", name, "--steps", "100", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    last = [json.loads(line) for line in result.stdout.splitlines()][-5:]
    first = json.loads(result.stdout.splitlines()[5])  # step 1: the loss at the start
    assert all(r["optim_loss"] < first["optim_loss"] / 2 for r in last), last


def test_a_users_model_with_two_scalars_gets_the_path_and_its_loss(tmp_path, invoke, monkeypatch):
    (tmp_path / "bowl.py").write_text(
        "import torch\n"
        "class Bowl(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a = torch.nn.Parameter(torch.tensor(2.0))\n"
        "        self.b = torch.nn.Parameter(torch.tensor(-1.0))\n"
        "    def forward(self):\n"
        "        return (self.a - 1) ** 2 + 3 * self.b ** 2\n"
        "    def minima(self):\n"
        "        return [(1.0, 0.0)]\n"
        "def build():\n"
        "    return Bowl()\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "optim", "-m", "bowl.py:build", "--steps", "20", "--plot", "path", "-f", "jsonl"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 21  # the data alone on stdout
    assert "path on the loss surface (b up, a across; log contours)" in result.stderr
    assert "from the minimum (1, 0)" in result.stderr
    problem = problems.build("bowl.py:build", seed=0, dtype=torch.float32, device=CPU)
    assert loss_at(problem)(1.0, 0.0) == 0.0 and loss_at(problem)(2.0, 1.0) == 4.0


def test_path_needs_two_elements(invoke):
    result = invoke("optim", "-m", "mlp", "--plot", "path")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "gradcli: error: --plot path: needs a problem with exactly two trainable elements "
        "(--model mlp has 354); try -m rosenbrock, beale, himmelblau or rastrigin\n"
    )


def test_paths_alone_without_a_surface_and_non_finite_points_left_out():
    lines = path_picture(
        {"a": [(0.0, 0.0), (1.0, 1.0), (math.nan, 2.0)], "b": [(0.0, 0.0), (1.0, -1.0)]},
        axes=("x", "y"),
        width=40,
        height=6,
    )
    assert lines[:2] == [  # the title wraps at the picture's width, never cut
        "path on the loss surface (y up, x",
        "  across; contours)",
    ]
    assert not any("contours at loss" in line for line in lines)
    text = "\n".join(lines)
    assert "• a (ends at 1)" in text and "+ b (ends at 2)" in text and "S start" in text
    assert "M minimum" not in text
    assert lines[-1].strip() == "b: ends at (1, -1)"  # no loss known, no minimum
    assert lines[-2].strip() == "a: ends at (1, 1)"  # the last finite point


def test_compare_takes_loss_and_path_and_writes_the_svg(invoke, tmp_path):
    import xml.etree.ElementTree as ET

    refused = invoke("compare", "-m", "rosenbrock", "-o", "sgd", "--plot", "grad-norm")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr == (
        "gradcli: error: --plot grad-norm: gradcli compare draws loss, path; for grad-norm, "
        "run gradcli optim or manual with --plot grad-norm\n"
    )
    target = tmp_path / "paths.svg"
    args = ["compare", "-m", "beale", "-o", "sgd,adam", "--steps", "20", "-f", "jsonl"]
    result = invoke(*args, "--plot", "loss", "--plot-file", str(target))
    assert result.exit_code == 0, result.stderr
    assert "loss (log scale)" in result.stderr and "path on" not in result.stderr
    assert result.stderr.endswith(f"gradcli: wrote loss to {target}\n")
    ET.parse(target)  # valid XML
    result = invoke(*args, "--plot-file", str(target))  # no --plot: all that apply
    assert result.stderr.endswith(f"gradcli: wrote loss, path to {target}\n")
    text = "".join(ET.parse(target).getroot().itertext())
    assert "path on the loss surface" in text and "minimum" in text and "adam" in text


@pytest.mark.parametrize("command", ["optim", "compare"])
def test_a_run_and_its_path_caption_show_one_final_loss(invoke, command):
    """The summary's loss at the end (at the final parameters, in the run's float32) and
    the caption's are one number, not the summary's and a float64 recomputation beside it."""
    args = ["-m", "himmelblau", "-o", "sgd", "-f", "jsonl", "--plot", "path"]  # (100 steps)
    result = invoke(command, *args)
    assert result.exit_code == 0, result.stderr
    summary = re.search(r"loss \S+ -> ([^\s,]+)", result.stderr)
    caption = re.search(r"sgd: ends at \(.*?\), loss ([^\s,]+)", result.stderr)
    assert summary and caption, result.stderr
    assert caption.group(1) == summary.group(1)


def test_a_path_read_back_says_its_loss_is_computed_in_float64(invoke, tmp_path):
    """JSON lines hold no loss at the final parameters: the caption computes one, and says
    how, since it may differ in its last digits from the run's own float32 summary."""
    run = tmp_path / "h.jsonl"
    run.write_text(invoke("optim", "-m", "himmelblau", "--steps", "5", "-f", "jsonl").stdout)
    result = invoke("plot", str(run), "--plot", "path")
    assert result.exit_code == 0, result.stderr
    assert re.search(r"h\.jsonl: ends at \(.*?\), loss \S+ \(in float64\)", result.stdout)
