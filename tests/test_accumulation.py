"""--accumulate K: K micro-batches, each loss / K, one clip, one update and one scheduler
step; manual == optim byte for byte; the gap to one batch of K·B measured; resuming."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcli.train.accumulation import ulps_apart
from tests.helpers import flaky_on_data, jsonl

LINEAR = ("-m", "linear", "-f", "jsonl")
DIGITS = ("--data", "digits", "-m", "mlp", "--batch-size", "32", "-f", "jsonl")


def run(invoke, *args: str) -> list[dict]:
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    return jsonl(result.stdout)


def grads(record: dict) -> list[float]:
    return [g for p in record["params"].values() for g in p["grad"]]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    k=st.sampled_from([2, 4, 8, 16]),
    optimizer=st.sampled_from(["sgd", "adam", "rmsprop", "SGD(momentum=0.9, nesterov=True)"]),
    clip=st.sampled_from([(), ("--clip-norm", "1"), ("--clip-value", "0.5")]),
    schedule=st.sampled_from([(), ("--schedule", "StepLR(step_size=2, gamma=0.5)")]),
)
def test_manual_and_optim_agree_byte_for_byte(invoke, k, optimizer, clip, schedule):
    args = (*LINEAR, "--accumulate", str(k), "-o", optimizer, "--steps", "4", *clip, *schedule)
    optim, manual = invoke("optim", *args), invoke("manual", *args)
    assert optim.exit_code == 0, optim.stderr
    assert optim.stdout == manual.stdout
    assert optim.stderr == manual.stderr


def test_manual_and_optim_agree_on_the_data_loop(invoke):
    args = (*DIGITS, "--accumulate", "5", "-o", "adam", "--steps", "4", "--clip-norm", "0.1")
    optim, manual = invoke("optim", *args), invoke("manual", *args)
    assert optim.exit_code == 0, optim.stderr
    assert optim.stdout == manual.stdout


def test_each_loss_is_divided_by_k_and_the_sum_is_one_batch(invoke):
    """Step 1's accumulated gradient is the full batch's (within rounding), not K times it;
    the loss is the micro-batches' mean; the record says how far, in ULPs."""
    whole = run(invoke, "optim", *LINEAR, "--steps", "1")[1]
    accumulated = run(invoke, "optim", *LINEAR, "--steps", "1", "--accumulate", "4")[1]
    assert accumulated["micro_losses"] and len(accumulated["micro_losses"]) == 4
    mean = sum(accumulated["micro_losses"]) / 4
    assert accumulated["loss"] == pytest.approx(mean, rel=1e-6)
    assert accumulated["loss"] == pytest.approx(whole["loss"], rel=1e-6)
    assert grads(accumulated) == pytest.approx(grads(whole), rel=1e-5)
    assert 0 <= accumulated["one_batch_ulps"] <= 16  # (float32 rounding: a few ULPs)
    # what each micro-batch added: its own gradient / K; together about the whole one's norm
    norms = accumulated["micro_grad_norms"]
    assert len(norms) == 4 and all(n > 0 for n in norms)
    total = math.sqrt(sum(g * g for g in grads(whole)))
    assert max(norms) < total < sum(norms) * 1.000001


def test_clipping_once_after_the_last_micro_batch(invoke):
    """The norm clipping saw is the accumulated gradient's: the full batch's."""
    whole = run(invoke, "optim", *LINEAR, "--steps", "1", "--clip-norm", "1")[1]
    accumulated = run(
        invoke, "optim", *LINEAR, "--steps", "1", "--clip-norm", "1", "--accumulate", "8"
    )[1]
    assert accumulated["grad_norm"] == pytest.approx(whole["grad_norm"], rel=1e-5)
    assert accumulated["clipped"] is True
    assert math.sqrt(sum(g * g for g in grads(accumulated))) == pytest.approx(1.0, rel=1e-5)


def test_one_scheduler_step_per_update(invoke):
    schedule = ("--schedule", "StepLR(step_size=2, gamma=0.5)", "--steps", "5")
    plain = run(invoke, "manual", *LINEAR, *schedule)
    accumulated = run(invoke, "manual", *LINEAR, *schedule, "--accumulate", "4")
    assert [r["lr"] for r in accumulated] == [r["lr"] for r in plain]


def test_steps_and_epochs_count_updates(invoke):
    """digits: 1437 training samples, batches of 32 -> 45 a epoch, 9 updates of 5."""
    records = run(invoke, "optim", *DIGITS, "--accumulate", "5", "--epochs", "1")
    steps = [r for r in records if "params" in r]
    assert [r["step"] for r in steps] == list(range(10))
    assert [r["batch"] for r in steps[1:]] == list(range(1, 10))
    assert steps[-1]["one_batch_ulps"] is None  # its last micro-batch has 29 samples
    assert all(isinstance(r["one_batch_ulps"], int) for r in steps[1:-1])


@pytest.mark.parametrize("base", [LINEAR, DIGITS], ids=["full-batch", "data"])
def test_resume_at_an_update_boundary_is_byte_identical(invoke, tmp_path, base):
    checkpoint = str(tmp_path / "ck.pt")
    args = ("manual", *base, "--accumulate", "5" if base == DIGITS else "4", "-o", "adam")
    straight = invoke(*args, "--steps", "6")
    first = invoke(*args, "--steps", "3", "--save", checkpoint)
    rest = invoke(*args[:1], "-f", "jsonl", "--resume", checkpoint, "--steps", "3")
    assert rest.exit_code == 0, rest.stderr
    assert first.stdout + rest.stdout == straight.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-m", "seed", "--accumulate", "2"), "--accumulate 2: --model seed has no data to cut"),
        (("--accumulate", "3"), "has 64 samples, which 3 micro-batches cannot share equally"),
        (("--accumulate", "0"), "--accumulate must be an integer in [1, 2**20]"),
        (("-o", "lbfgs", "--accumulate", "2"), "lbfgs evaluates the loss itself"),
        ((*DIGITS, "--accumulate", "4"), "45 batches of 32, which do not make whole updates"),
    ],
)
def test_bad_accumulation_is_one_line(invoke, args, message):
    result = invoke("optim", *args, "--steps", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradcli: error: ")
    assert message in lines[0]


def test_summary_and_table_name_the_accumulation(invoke):
    result = invoke("optim", *LINEAR, "--steps", "2", "--accumulate", "4", "--dtype", "float64")
    assert "4 micro-batches an update" in result.stderr.splitlines()[-1]
    table = invoke("optim", "-f", "table", "--steps", "1", "--accumulate", "4")
    assert table.exit_code == 0, table.stderr
    assert "4 micro-batches, vs one batch: max |difference| " in table.stdout
    assert "accumulation" in table.stdout


floats = st.floats(-(2.0**100), 2.0**100, allow_nan=False, width=32)


@given(st.lists(floats, min_size=1, max_size=8).filter(lambda v: any(v)), st.integers(0, 4))
def test_ulps_apart_counts_steps_at_the_largest_element(values, steps):
    """The largest element moved ``steps`` floats away from zero is ``steps`` ULPs away (a
    step that crosses a power of two is half the ULP above it: at least half as many)."""
    a = torch.tensor(values, dtype=torch.float32)
    b = a.clone()
    at = int(a.abs().argmax())
    away = torch.tensor(math.inf if a[at] > 0 else -math.inf)
    for _ in range(steps):
        b[at] = torch.nextafter(b[at], away)
    assert math.ceil(steps / 2) <= ulps_apart(a, b) <= steps
    assert ulps_apart(a, b) == ulps_apart(b, a)
    assert ulps_apart(a, a) == 0


def test_the_accumulation_pitfalls_show_their_numbers():
    from gradcli.lessons import accumulating

    rows = {r.quantity: r for r in accumulating.accumulate_no_divide().rows}
    used = rows["grad the update used"]
    assert used.mistake == tuple(4 * g for g in used.correct)  # K-fold, exactly
    assert used.correct == rows["one batch of 4: grad"].correct
    rows = {r.quantity: r for r in accumulating.zero_grad_each_micro_batch().rows}
    used = rows["grad the update used"]
    assert used.mistake == rows["last micro-batch / K: grad"].mistake != used.correct


def test_pitfalls_lists_the_accumulation_pitfalls(invoke):
    result = invoke("pitfalls", "-f", "table")
    assert result.exit_code == 0, result.stderr
    assert "accumulate-no-divide" in result.stdout
    assert "zero-grad-each-micro-batch" in result.stdout


def test_amp_bf16_agrees_on_both_paths_and_keeps_float32_weights(invoke):
    """The forward under autocast changes the numbers (bfloat16 matmuls), not the dtype of
    the weights and gradients, and both paths run it alike, also with --accumulate."""
    args = ("-m", "mlp", "-o", "adam", "--steps", "3", "-f", "jsonl", "--amp", "bf16")
    for extra in ((), ("--accumulate", "4")):
        optim, manual = invoke("optim", *args, *extra), invoke("manual", *args, *extra)
        assert optim.exit_code == 0, optim.stderr
        assert optim.stdout == manual.stdout
    plain = run(invoke, "optim", *args[:-2])
    mixed = jsonl(invoke("optim", *args).stdout)
    assert mixed[1]["loss"] != plain[1]["loss"]
    assert mixed[1]["loss"] == pytest.approx(plain[1]["loss"], rel=1e-2)
    table = invoke("optim", "-m", "mlp", "--amp", "bf16", "--steps", "1", "-f", "table")
    assert "cpu float32, autocast bf16" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--amp", "fp8"), "--amp: unknown amp 'fp8'; choose one of: bf16, fp16"),
        (("--amp", "bf16", "--dtype", "float64"), "keeps float32 master weights"),
    ],
)
def test_bad_amp_is_one_line(invoke, args, message):
    result = invoke("optim", *args, "--steps", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_a_failure_inside_an_accumulation_window_resumes_byte_identical(invoke, tmp_path):
    """Step 2's second micro-batch fails (forward calls: step 1's three micro-batches and
    its one-batch check, then step 2's first): the checkpoint holds step 1 and gives the
    whole window back, so going on repeats the uninterrupted run, epoch losses included."""
    (tmp_path / "flaky.py").write_text(flaky_on_data(6))
    model = f"{tmp_path}/flaky.py:build"
    args = ("optim", "--data", "digits", "--val-fraction", "0.5", "-m", model, "-o", "adam")
    args += ("--batch-size", "100", "--accumulate", "3", "-f", "jsonl")
    whole = invoke(*args, "--steps", "6")
    assert whole.exit_code == 0, whole.stderr
    (tmp_path / "fail").touch()
    checkpoint = str(tmp_path / "ck.pt")
    failed = invoke(*args, "--steps", "6", "--save", checkpoint)
    assert failed.exit_code == 2
    assert "step 2: forward() or backward() raised ValueError: flaky" in failed.stderr
    (tmp_path / "fail").unlink()
    rest = invoke("optim", "--resume", checkpoint, "-m", model, "-f", "jsonl")
    assert rest.exit_code == 0, rest.stderr
    assert failed.stdout + rest.stdout == whole.stdout
    assert sum('"epoch_end"' in line for line in whole.stdout.splitlines()) == 2
