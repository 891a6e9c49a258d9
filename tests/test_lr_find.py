"""``gradcli lr-find``: the ramp, the smoothing, the stop, the suggestion, on a problem whose
divergence threshold is known in closed form, and the training left as it was found."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gradcli.lr_range import Curve, Point, Ramp, steepest
from gradcli.spec import RunSpec
from gradcli.train.lr_find import range_test
from gradcli.train.setup import prepare
from tests.helpers import bits, jsonl

QUADRATIC = Path(__file__).resolve().parent.parent / "docs" / "noisy_quadratic.py"
CURVATURE = 4.0  # its L: plain SGD on L/2·|x - a_k|² diverges for lr > 2/L


@pytest.fixture
def quadratic():
    assert f"CURVATURE = {CURVATURE}  # L" in QUADRATIC.read_text()
    return f"{QUADRATIC}:build"


def test_piped_it_prints_the_suggestion_as_one_number(invoke):
    result = invoke("lr-find", "-m", "mlp", "-o", "adam")
    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert 1e-7 < float(line) < 10
    assert result.stderr.startswith(f"gradcli: suggested lr {float(line):.3g}: the lr where")
    quiet = invoke("lr-find", "-m", "mlp", "-o", "adam", "-q")
    assert (quiet.stdout, quiet.stderr) == (result.stdout, "")


@pytest.mark.parametrize("ramp", ["exponential", "linear"])
def test_the_lr_column_is_the_documented_ramp(invoke, ramp):
    start, end, n = 1e-6, 3.0, 40
    args = ["--start-lr", str(start), "--end-lr", str(end), "--steps", str(n), "--ramp", ramp]
    result = invoke("lr-find", *args, "--stop-factor", "inf", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    rows = jsonl(result.stdout)
    assert [r["step"] for r in rows] == list(range(n))
    assert all(set(r) == {"step", "lr", "loss", "smoothed", "seed"} for r in rows)
    for i, row in enumerate(rows):  # the documented formulas, in float64
        if ramp == "exponential":
            documented = start * (end / start) ** (i / (n - 1))
        else:
            documented = start + (end - start) * i / (n - 1)
        assert row["lr"] == pytest.approx(documented, rel=1e-14, abs=0)
    assert (rows[0]["lr"], rows[-1]["lr"]) == pytest.approx((start, end), rel=1e-14)


@given(
    start=st.floats(1e-9, 1.0),
    ratio=st.floats(1.001, 1e9),
    steps=st.integers(2, 500),
    kind=st.sampled_from(["exponential", "linear"]),
)
def test_every_ramp_rises_from_start_to_end(start, ratio, steps, kind):
    ramp = Ramp(start, start * ratio, steps, kind).check()
    lrs = [ramp.lr(i) for i in range(steps)]
    assert lrs[0] == start
    assert lrs[-1] == pytest.approx(start * ratio, rel=1e-12)
    assert all(a < b for a, b in itertools.pairwise(lrs))


def test_the_smoothed_loss_is_the_bias_corrected_average_of_the_losses(invoke):
    result = invoke("lr-find", "-m", "linear", "--smoothing", "0.9", "-f", "jsonl")
    rows = jsonl(result.stdout)
    avg = 0.0
    for i, row in enumerate(rows):
        avg = 0.9 * avg + 0.1 * row["loss"]
        assert row["smoothed"] == pytest.approx(avg / (1 - 0.9 ** (i + 1)), rel=1e-12)


def test_it_stops_at_the_first_smoothed_loss_above_the_factor_times_the_best(invoke):
    result = invoke("lr-find", "-m", "linear", "--stop-factor", "2", "-f", "jsonl")
    smoothed = [r["smoothed"] for r in jsonl(result.stdout)]
    assert len(smoothed) < 100
    assert smoothed[-1] > 2 * min(smoothed[:-1])
    assert all(s <= 2 * min(smoothed[: i + 1]) for i, s in enumerate(smoothed[:-1]))
    assert f"stopped at step {len(smoothed) - 1}: the smoothed loss" in result.stderr


def test_on_a_quadratic_it_stops_past_2_over_l_and_suggests_below_it(invoke, quadratic):
    """L/2·|x - a_k|²: SGD diverges for lr > 2/L = 0.5. The steepest descent must be below
    it; the stop (smoothed loss 4× the best) comes after it, and soon: the raw loss grows by
    (lr·L - 1)² a step past 2/L (×2.25 at 1.25·2/L), and the average (β = 0.98) follows in a
    few steps of a 300-step ramp (×1.039 each)."""
    args = ["lr-find", "-m", quadratic, "--start-lr", "1e-4", "--end-lr", "10", "--steps", "300"]
    number = invoke(*args, "--dtype", "float64")
    points = invoke(*args, "--dtype", "float64", "-f", "jsonl")
    assert number.exit_code == points.exit_code == 0, number.stderr
    threshold = 2 / CURVATURE
    suggestion = float(number.stdout)
    assert suggestion < threshold
    rows = jsonl(points.stdout)
    stopped_at = rows[-1]["lr"]
    assert len(rows) < 300
    assert threshold < stopped_at < 1.5 * threshold
    # past the threshold the loss outgrows even the one it started from
    below = [r["loss"] for r in rows if r["lr"] < threshold]
    assert rows[-1]["loss"] > max(below)
    assert suggestion in {r["lr"] for r in rows}  # the suggestion is one of the ramp's lrs


def test_the_suggestion_is_the_steepest_descent_after_the_first_steps():
    falling = [10.0, 9.0, 5.0, 4.5, 4.4, 4.3, 4.2, 4.1, 4.0, 3.9, 3.8, 3.0, 1.0, 0.9, 2.0]
    lrs = [10 ** (i / 2) for i in range(len(falling))]
    points = [Point(i, lr, y, y) for i, (lr, y) in enumerate(zip(lrs, falling, strict=True))]
    # the drop from 5 to 1 near the lowest point, not the first drop (skipped) nor the rise
    assert steepest(points) == points[12] or steepest(points) == points[11]
    assert steepest([Point(i, lr, 1.0 + i, 1.0 + i) for i, lr in enumerate(lrs)]) is None


@pytest.mark.slow
def test_seeds_report_the_spread_and_the_median(invoke):
    many = invoke("lr-find", "-m", "mlp", "--seeds", "3")
    assert many.exit_code == 0, many.stderr
    each = [float(invoke("lr-find", "-m", "mlp", "--seed", str(k)).stdout) for k in range(3)]
    assert float(many.stdout) == statistics.median(each)
    assert f"median {statistics.median(each):.3g} of 3 seeds" in many.stderr
    assert f"min {min(each):.3g}, max {max(each):.3g}" in many.stderr
    rows = jsonl(invoke("lr-find", "-m", "mlp", "--seeds", "3", "-f", "jsonl").stdout)
    assert sorted({r["seed"] for r in rows}) == [0, 1, 2]


def test_the_picture_marks_the_suggestion_and_states_the_rule(invoke):
    result = invoke("lr-find", "-m", "mlp", "-o", "adam", "-f", "plot")
    number = invoke("lr-find", "-m", "mlp", "-o", "adam", "-q").stdout.strip()
    lines = result.stdout.splitlines()
    assert "smoothed loss, β = 0.98 (log scale)" in lines
    assert f"┆ suggested lr: {float(number):.3g}" in lines
    assert any(
        line.startswith("rule: the lr where the smoothed loss falls fastest") for line in lines
    )
    rows = [line for line in lines if {"┤", "│"} & set(line[:12])]  # the plot's rows
    assert len({line.index("┆") for line in rows if "┆" in line}) == 1  # one vertical line
    assert "1e-07" in lines[lines.index(rows[-1]) + 2]
    assert result.stderr == ""


def test_more_seeds_than_markers_are_drawn_in_panels_on_the_same_axes(invoke):
    result = invoke("lr-find", "-m", "linear", "--steps", "12", "--seeds", "9", "-f", "plot")
    lines = result.stdout.splitlines()
    titles = [line for line in lines if line.startswith("smoothed loss, β = 0.98")]
    panels = [t.split(" · ")[-1] for t in titles]
    assert panels == ["panel 1 of 2, same axes", "panel 2 of 2, same axes"]
    legends = [line.split()[:3] for line in lines if line.strip().startswith("• seed")]
    assert legends == [["•", "seed", "0"], ["•", "seed", "8"]]  # seed 8: a marker of its own
    assert sum(line.startswith("┆ suggested lr: median") for line in lines) == 1


def test_manual_and_torch_optim_give_the_same_points(invoke):
    args = ["lr-find", "-m", "mlp", "-o", "sgd", "--momentum", "0.9", "-f", "csv"]
    optim, manual = invoke(*args), invoke(*args, "--manual")
    assert optim.exit_code == 0, optim.stderr
    assert manual.stdout == optim.stdout


@pytest.mark.parametrize("path", ["optim", "manual"])
def test_the_model_and_optimizer_are_put_back(path):
    spec = RunSpec(model="mlp", optimizer="adam", lr=0.01, steps=3, device="cpu")
    training, _ = prepare(spec, path)
    for _ in range(3):  # some optimizer state to keep
        training.advance()
    params = [p.detach().clone() for p in training.problem.parameters()]
    states = {
        name: {k: v.clone() for k, v in training.update.state[p].items()}
        for name, p in training.problem.named_parameters()
    }
    curve = range_test(training, Ramp(1e-4, 1.0, 20), Curve())
    assert len(curve.points) > 5
    assert training.update.lr == 0.01
    for before, after in zip(params, training.problem.parameters(), strict=True):
        assert torch.equal(bits(before), bits(after))
    for name, p in training.problem.named_parameters():
        kept = training.update.state[p]
        assert set(kept) == set(states[name])
        assert all(torch.equal(kept[k], states[name][k]) for k in kept)


def test_no_suggestion_where_the_loss_never_falls_is_exit_3(invoke):
    result = invoke("lr-find", "-m", "rosenbrock", "--start-lr", "1", "--end-lr", "10")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "gradcli: diverged: the smoothed loss never fell between lr 1 and the stop; try a "
        "smaller --start-lr"
    )
    assert "stopped at step 1: the smoothed loss" in result.stderr


@pytest.mark.parametrize("command", ["optim", "manual"])
def test_lr_auto_trains_at_lr_finds_suggestion_from_a_fresh_start(invoke, command):
    found = invoke("lr-find", "-m", "mlp", "-o", "adam", *(["--manual"] * (command == "manual")))
    lr = found.stdout.strip()
    args = [command, "-m", "mlp", "-o", "adam", "--steps", "3", "-f", "jsonl"]
    auto, given = invoke(*args, "--lr", "auto"), invoke(*args, "--lr", lr)
    assert auto.exit_code == 0, auto.stderr
    assert auto.stdout == given.stdout  # the test left nothing behind in the run
    assert {r["lr"] for r in jsonl(auto.stdout)[1:]} == {float(lr)}
    assert auto.stderr.startswith(f"gradcli: --lr auto: {float(lr):.6g}, lr-find's suggestion: ")


def test_lr_auto_is_for_optim_and_manual(invoke):
    result = invoke("compare", "--lr", "auto")
    assert result.exit_code == 2
    assert result.stderr.startswith("gradcli: error: Invalid value for '--lr': 'auto' is not a")


def test_a_loss_that_is_not_finite_stops_the_test():
    curve = Curve()
    assert curve.add(0, 0.1, 1.0)
    assert not curve.add(1, 0.2, math.nan)
    assert curve.stopped == "step 1: the loss is nan at lr 0.2"
    assert len(curve.points) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--start-lr", "0"], "--start-lr must be a finite number > 0, got 0.0"),
        (["--end-lr", "1e-8"], "--end-lr (1e-08) must be above --start-lr (1e-07)"),
        (["--steps", "1"], "--steps must be an integer >= 2, got 1"),
        (["--ramp", "cubic"], "--ramp: unknown ramp 'cubic'; choose one of: exponential, linear"),
        (["--smoothing", "1"], "--smoothing must be a number in [0, 1), got 1.0"),
        (["--stop-factor", "1"], "--stop-factor must be a number > 1 (or inf), got 1.0"),
        (["--seeds", "0"], "--seeds must be an integer >= 1, got 0"),
        (["-f", "table"], "--format: unknown format 'table'; choose one of: auto, number, plot"),
        (["-m", "nope"], "--model"),
        (["-o", "adam", "--momentum", "0.9"], "momentum"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(invoke, args, says):
    result = invoke("lr-find", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("gradcli: error: ")
    assert says in line


@pytest.mark.slow
def test_on_mini_batches_of_a_data_set(invoke):
    pytest.importorskip("sklearn")
    args = ["lr-find", "-d", "digits", "-m", "mlp", "--batch-size", "32", "-o", "adam"]
    result = invoke(*args, "--steps", "60")
    assert result.exit_code == 0, result.stderr
    assert 1e-7 < float(result.stdout) < 10
    again = invoke(*args, "--steps", "60")
    assert again.stdout == result.stdout  # the same batches, the same suggestion


def test_accumulate_is_k_micro_batches_before_each_update(invoke):
    """--accumulate 4 on linear: each step of the ramp backpropagates a quarter of the data
    four times (each loss / 4) before one update; the loss is the sum of the quarters'."""
    ramp = Ramp(1e-7, 1.0, 20, "exponential")
    args = ["--start-lr", "1e-7", "--end-lr", "1", "--steps", "20", "--stop-factor", "inf"]
    result = invoke("lr-find", "-m", "linear", "--accumulate", "4", *args, "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    points = jsonl(result.stdout)

    from gradcli import problems

    problem = problems.build("linear", seed=0, dtype=torch.float32, device=torch.device("cpu"))
    x, y = problem.x, problem.y
    optimizer = torch.optim.SGD(problem.parameters(), lr=ramp.start)
    by_hand = []
    for i in range(ramp.steps):
        optimizer.param_groups[0]["lr"] = ramp.lr(i)
        optimizer.zero_grad()
        total = torch.zeros(())
        for problem.x, problem.y in zip(x.chunk(4), y.chunk(4), strict=True):
            loss = problem()
            (loss / 4).backward()
            total = total + loss.detach() / 4
        problem.x, problem.y = x, y
        optimizer.step()
        by_hand.append((ramp.lr(i), total.item()))
    assert [(p["lr"], p["loss"]) for p in points] == by_hand
