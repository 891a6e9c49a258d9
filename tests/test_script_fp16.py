"""``--print-script --amp fp16``: the script of a run with a gradient scaler prints gradcli's
JSON lines byte for byte: on the optim path with ``torch.amp.GradScaler`` in the loop torch
documents, on the manual path with gradcli's ``HandScaler``, its source written into the
script; the records' ``scale`` and ``skipped`` (a forced skip: an inf in the scaled
gradients), with --accumulate, clipping, schedules, --state, the data loop, Muon's two
optimizers, and --save/--resume with the scaler's state."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from gradcli.train.loss_scaling import HandScaler
from tests.helpers import jsonl
from tests.test_script import check, check_save_and_resume

# a loss scale so large that the scaled gradients overflow float32: every step is skipped
HUGE = ["--loss-scale", "1e38"]


def test_a_forced_skip_and_a_step_that_runs_are_the_same_run_on_both_paths(invoke, tmp_path):
    """A huge --loss-scale: inf gradients, every update skipped and S halved each step, the
    gradients written as gradcli writes an inf ("Infinity"); --loss-scale 1 with
    --growth-interval 2: no skip, S doubles every second step. The manual path's scaler is
    HandScaler's own source, and the optim path's is torch's."""
    runs = [
        [path, "-m", "linear", "-o", "adam", "--steps", "3", "--amp", "fp16", *scaling]
        for path in ("optim", "manual")
        for scaling in (HUGE, ["--loss-scale", "1", "--growth-interval", "2", "--state"])
    ]
    outputs = check(invoke, tmp_path, runs)
    huge, grows = jsonl(outputs[0])[1:], jsonl(outputs[1])[1:]
    assert [line["skipped"] for line in huge] == [True] * 3
    assert huge[1]["scale"] == huge[0]["scale"] / 2
    assert [line["skipped"] for line in grows] == [False] * 3
    assert [line["scale"] for line in grows] == [1.0, 1.0, 2.0]
    assert [line["scaler"]["scale"] for line in grows] == [1.0, 2.0, 2.0]
    for i in (0, 1):  # byte for byte, the spelled-out infinities too
        assert outputs[i] == outputs[i + 2]
    manual = invoke(*runs[2], "--print-script").stdout
    assert inspect.getsource(HandScaler).split("\n    def load_state_dict")[0] in manual
    optim = invoke(*runs[0], "--print-script").stdout
    assert "scaler.scale(loss).backward()" in optim and "scaler.unscale_(optimizer)" in optim
    assert "class HandScaler" not in optim


@pytest.mark.slow
def test_fp16_composes_with_the_rest(invoke, tmp_path):
    """--amp fp16 with --accumulate (the micro-batches' norms unscaled, the one batch's
    gradient scaled), clipping after unscale_, schedules, --state, Muon's two optimizers
    (each skipped on its own), and the data loop."""
    schedule = ["--schedule", "StepLR(step_size=1)"]
    data = ["--data", "digits", "--batch-size", "256", "--steps", "3", "--amp", "fp16"]
    runs = [
        [path, "-m", "mlp", "-o", "adam", "--steps", "3", "--amp", "fp16", "--accumulate", "2",
         "--clip-norm", "1", *schedule, "--state"]
        for path in ("optim", "manual")
    ] + [
        [path, "-m", "mlp", "-o", "muon", "--steps", "3", "--amp", "fp16", "--state"]
        for path in ("optim", "manual")
    ] + [
        ["optim", *data, "-m", "mlp", "-o", "adam", "--accumulate", "2"],
        ["manual", *data, "-m", "mlp", "-o", "sgd", "--clip-value", "0.01", *HUGE],
    ]  # fmt: skip
    check(invoke, tmp_path, runs)


def test_save_and_resume_with_the_scaler_go_both_ways_byte_for_byte(invoke, tmp_path):
    """--save writes the scaler's state (S and its growth tracker) as gradcli does, and
    --resume loads it: across a skipped step, on both paths."""
    runs = [
        [path, "-m", "linear", "-o", "adam", "--amp", "fp16", *scaling]
        for path in ("optim", "manual")
        for scaling in (HUGE, ["--loss-scale", "1", "--growth-interval", "3"])
    ]
    check_save_and_resume(invoke, tmp_path, runs, (2, 5))


@pytest.mark.slow
def test_save_and_resume_on_data_with_accumulation_across_skipped_steps(invoke, tmp_path):
    """The data loop with --accumulate 2 and a scale that overflows now and then (S grows
    every second step): skipped steps on both sides of the checkpoint, where the one
    batch's gradient is not finite either (no ULP gap: null, as gradcli's)."""
    runs = [
        [path, "--data", "digits", "-m", "mlp", "-o", "adam", "--batch-size", "256", "--amp",
         "fp16", "--accumulate", "2", "--loss-scale", "1e6", "--growth-interval", "2"]
        for path in ("optim", "manual")
    ]  # fmt: skip
    check_save_and_resume(invoke, tmp_path, runs, (3, 6))


def test_a_skipped_first_step_with_a_schedule_is_as_quiet_as_gradcli(invoke, tmp_path):
    """torch warns when the scheduler steps after an update the scaler skipped; gradcli is
    silent about the loop torch documents, and so is the script (stderr empty)."""
    args = ["optim", "-m", "linear", "--steps", "2", "--amp", "fp16", *HUGE]
    args += ["--schedule", "StepLR(step_size=1)"]
    script = tmp_path / "s.py"
    script.write_text(invoke(*args, "--print-script").stdout)
    ran = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    )
    assert ran.stderr == ""
    assert ran.stdout == invoke(*args, "-f", "jsonl", "-q").stdout
    assert all(line["skipped"] for line in jsonl(ran.stdout)[1:])


def test_explain_s_lines_of_the_loss_scaling_are_the_same(invoke, tmp_path):
    """--explain with --amp fp16: the scale and the unscale before the clipping's line, the
    formula's lines said skipped on a skipped step (S grows each step until it overflows:
    steps 3 and 6 here), update()'s line last, on both paths."""
    args = ["-m", "linear", "-o", "adam", "--steps", "6", "--amp", "fp16", "--explain"]
    args += ["--loss-scale", "3000", "--growth-interval", "1"]
    outputs = check(invoke, tmp_path, [["manual", *args], ["optim", *args, "--clip-norm", "1"]])
    lines = jsonl(outputs[1])
    assert [line["skipped"] for line in lines[1:]] == [False, False, True, False, False, True]
    explained = lines[3]["explain"]
    assert explained[0].startswith("scaler.scale(loss)") and explained[2].startswith("clip:")
    assert "scaler.step() skipped the update" in explained[3]
    assert explained[-1].startswith("scaler.update(): S ← S·0.5")
    manual = jsonl(outputs[0])[3]["explain"]  # (no clipping: no clip line)
    assert manual[2].startswith("linear.weight[0]: scaler.step() skipped the update")


def test_a_first_step_skipped_with_explain_says_so_on_both_paths(invoke, tmp_path):
    """A skipped first step left Adam no state: its formula is not asked (it raised
    KeyError 'exp_avg'); each parameter's line says the update was skipped."""
    args = ["-m", "linear", "-o", "adam", "--steps", "2", "--amp", "fp16", "--explain"]
    args += ["--loss-scale", "1e38"]
    outputs = check(invoke, tmp_path, [["manual", *args], ["optim", *args]])
    assert outputs[0] == outputs[1]
    for line in jsonl(outputs[0])[1:]:
        assert line["skipped"] is True
        said = [e for e in line["explain"] if e.startswith("linear.")]
        assert [e.partition(":")[0] for e in said] == ["linear.weight[0]", "linear.bias[0]"]
        assert all("scaler.step() skipped the update" in e for e in said)
