"""--amp fp16: the forward in float16, the loss scaled by torch's GradScaler (optim) and by
hand (manual), byte for byte; skipped steps, the scale's backoff and growth; composing with
clipping, schedules, --accumulate, --explain, --state and checkpoints; the two pitfalls."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcli.train.loss_scaling import HandScaler
from tests.helpers import bits, flaky_on_data, jsonl
from tests.lanes import fast_cases

FP16 = ("-m", "linear", "--amp", "fp16", "-f", "jsonl")
SKIP = ("--loss-scale", str(2.0**100))  # the scaled loss overflows: 100 steps' backoff


def run(invoke, *args: str) -> tuple[list[dict], str]:
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    return jsonl(result.stdout), result.stderr


def agree(invoke, *args: str) -> list[dict]:
    """``optim`` and ``manual`` print the same bytes on stdout and stderr; the records."""
    optim, manual = invoke("optim", *args), invoke("manual", *args)
    assert optim.exit_code == 0, optim.stderr
    assert optim.stdout == manual.stdout
    assert optim.stderr == manual.stderr
    return jsonl(optim.stdout)


@pytest.mark.slow
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    optimizer=st.sampled_from(["sgd", "adam", "SGD(momentum=0.9, nesterov=True)", "rmsprop"]),
    accumulate=st.sampled_from(["1", "2", "4"]),
    clip=st.sampled_from([(), ("--clip-norm", "1"), ("--clip-value", "0.5")]),
    schedule=st.sampled_from([(), ("--schedule", "StepLR(step_size=2, gamma=0.5)")]),
    scale=st.sampled_from(["65536", "1048576", str(2.0**120), "0.5"]),
    interval=st.sampled_from(["1", "2", "2000"]),
)
def test_manual_and_optim_agree_byte_for_byte(
    invoke, optimizer, accumulate, clip, schedule, scale, interval
):
    """For any optimizer, K, clipping, schedule, initial scale and growth interval, skipped
    steps included (65536 and more overflow the linear problem's float16 backward)."""
    args = (*FP16, "-o", optimizer, "--accumulate", accumulate, "--steps", "6", *clip, *schedule)
    agree(invoke, *args, "--loss-scale", scale, "--growth-interval", interval)


def test_a_forced_skip_changes_nothing_and_halves_the_scale(invoke):
    """A step whose scaled gradients overflow: parameters and Adam's state stay (its step
    count too), the update is 0, the scale halves; agreed on both paths, summary included."""
    records = agree(invoke, *FP16, *SKIP, "-o", "adam", "--steps", "3", "--state")
    for before, record in itertools.pairwise(records):
        assert record["skipped"] is True
        for name, p in record["params"].items():
            assert p["value"] == before["params"][name]["value"]
            assert p["update"] == [0.0] * len(p["value"])
            assert all(g in ("NaN", "Infinity", "-Infinity") for g in p["grad"])
    assert [r.get("scale") for r in records] == [None, 2.0**100, 2.0**99, 2.0**98]
    assert records[-1]["scaler"] == {"scale": 2.0**97, "_growth_tracker": 0}
    assert all("state" not in p or not p["state"] for p in records[-1]["params"].values())
    _, stderr = run(invoke, "optim", *FP16, *SKIP, "--steps", "3")
    assert "; 3 of 3 steps skipped (inf/NaN gradients), loss scale 1.58456e+29 at the end" in (
        stderr
    )


def test_the_scale_backs_off_then_the_run_trains(invoke):
    """On linear the default 65536 overflows float16 three times (S·g > 65504), then 8192
    fits and the loss falls, as without --amp; the master weights stay float32."""
    records = agree(invoke, *FP16, "--steps", "8")
    assert [r["skipped"] for r in records[1:]] == [True] * 3 + [False] * 5
    assert [r["scale"] for r in records[1:5]] == [65536.0, 32768.0, 16384.0, 8192.0]
    losses = [r["loss"] for r in records[4:]]
    assert losses == sorted(losses, reverse=True)
    plain, _ = run(invoke, "optim", "-m", "linear", "-f", "jsonl", "--steps", "5")
    assert records[4]["loss"] == pytest.approx(plain[1]["loss"], rel=1e-3)
    assert records[5]["loss"] == pytest.approx(plain[2]["loss"], rel=1e-3)


def test_the_scale_grows_after_growth_interval_steps(invoke):
    """--growth-interval 2 on mlp (no overflow at 1): S doubles every second step."""
    records = agree(invoke, "-m", "mlp", "--amp", "fp16", "-f", "jsonl", "--steps", "6",
                    "--loss-scale", "1", "--growth-interval", "2", "--state")  # fmt: skip
    assert [r["scale"] for r in records[1:]] == [1.0, 1.0, 2.0, 2.0, 4.0, 4.0]
    assert [r["scaler"]["_growth_tracker"] for r in records[1:]] == [1, 0, 1, 0, 1, 0]


def test_the_scheduler_steps_also_on_a_skipped_step(invoke):
    """As the loop torch documents: scheduler.step() after scaler.step(), skipped or not, so
    the lr follows the steps counted, not the updates made."""
    schedule = ("--schedule", "StepLR(step_size=1, gamma=0.5)", "--steps", "5")
    skipped = agree(invoke, *FP16, *schedule)
    plain, _ = run(invoke, "optim", "-m", "linear", "-f", "jsonl", *schedule)
    assert [r["lr"] for r in skipped] == [r["lr"] for r in plain]
    assert [r["skipped"] for r in skipped[1:4]] == [True] * 3


def test_clipping_sees_the_unscaled_gradient(invoke):
    """unscale_ before clipping: the norm clipping saw is g's, not S·g's, and the gradient
    used has norm max_norm."""
    args = ("--clip-norm", "1", "--steps", "5")
    records = agree(invoke, *FP16, *args)
    plain, _ = run(invoke, "optim", "-m", "linear", "-f", "jsonl", *args)
    assert records[4]["grad_norm"] == pytest.approx(plain[1]["grad_norm"], rel=1e-3)
    used = [g for p in records[4]["params"].values() for g in p["grad"]]
    assert math.sqrt(sum(g * g for g in used)) == pytest.approx(1.0, rel=1e-5)


def test_accumulation_scales_each_micro_batch(invoke):
    """scaler.scale(loss / K) per micro-batch; the micro-batch norms are shown unscaled."""
    records = agree(invoke, *FP16, "--accumulate", "4", "--loss-scale", "1024", "--steps", "2")
    plain, _ = run(invoke, "optim", "-m", "linear", "-f", "jsonl", "--accumulate", "4",
                   "--steps", "2")  # fmt: skip
    assert records[1]["skipped"] is False and records[1]["scale"] == 1024.0
    assert records[1]["micro_grad_norms"] == pytest.approx(plain[1]["micro_grad_norms"], rel=1e-2)
    assert isinstance(records[1]["one_batch_ulps"], int)


def test_explain_shows_the_scale_and_the_unscale_in_numbers(invoke):
    args = (*FP16, "--steps", "4", "--explain")
    records = agree(invoke, *args)
    skipped, taken = records[1]["explain"], records[4]["explain"]
    assert skipped[0].startswith("scaler.scale(loss): loss·S = 16.")
    assert "× 65536 = " in skipped[0]
    assert "1/S = 1.52588e-05 (float32); found_inf = 1" in skipped[1]
    assert "scaler.step() skipped the update" in skipped[2]
    assert skipped[-1] == "scaler.update(): S ← S·0.5 = 32768; growth tracker ← 0"
    assert "found_inf = 0: optimizer.step() runs on g" in taken[1]
    assert taken[2].startswith("linear.weight[0]: θ − lr·g")
    assert taken[-1] == "scaler.update(): growth tracker 0 → 1 of 2000; S stays 8192"


@settings(max_examples=60, deadline=None)
@given(
    grads=st.lists(
        st.lists(
            st.floats(width=32, allow_nan=True, allow_infinity=True) | st.floats(-1e-30, 1e-30),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=3,
    ),
    scale=st.floats(2.0**-20, 2.0**127, width=32) | st.sampled_from([65536.0, 3.0, 2.0**127]),
    interval=st.integers(1, 3),
    steps=st.integers(1, 5),
)
def test_hand_scaler_is_torchs_bit_for_bit(grads, scale, interval, steps):
    """For any gradients (inf and NaN included), scale and growth interval: the same
    unscaled gradients, found_inf, and state after each of several update()s."""
    torch_scaler = torch.amp.GradScaler("cpu", init_scale=scale, growth_interval=interval)
    hand = HandScaler(scale, interval)
    for step in range(steps):
        params = [torch.zeros(len(g), requires_grad=True) for g in grads]
        optimizer = torch.optim.SGD(params, lr=0.0)
        for p, g in zip(params, grads, strict=True):  # finite ones only after the first step
            p.grad = torch.tensor(g if step == 0 else [0.5] * len(g), dtype=torch.float32)
        mine = [p.grad.clone() for p in params]
        torch_scaler.scale(torch.ones(()))
        hand.scale(torch.ones(()))
        torch_scaler.unscale_(optimizer)
        hand.unscale_(0, mine)
        for p, m in zip(params, mine, strict=True):
            assert torch.equal(bits(p.grad), bits(m))
        found = sum(f.item() for f in torch_scaler._found_inf_per_device(optimizer).values())
        assert hand.skips(0) == bool(found)
        torch_scaler.step(optimizer)
        torch_scaler.update()
        hand.update()
        assert hand.state_dict() == torch_scaler.state_dict()


def test_the_checkpoint_holds_torchs_scaler_state(invoke, tmp_path):
    checkpoint = tmp_path / "ck.pt"
    for path in ("optim", "manual"):
        run(invoke, path, *FP16, "--steps", "2", "--save", str(checkpoint))
        saved = torch.load(checkpoint, weights_only=True)["grad_scaler"]
        assert saved == {
            "scale": 16384.0,
            "growth_factor": 2.0,
            "backoff_factor": 0.5,
            "growth_interval": 2000,
            "_growth_tracker": 0,
        }


@pytest.mark.parametrize(
    "paths", fast_cases([("optim", "manual"), ("optim", "optim"), ("manual", "manual")])
)
def test_resume_across_a_skipped_step_is_byte_identical(invoke, tmp_path, paths):
    """Saved after step 2 (skipped, and step 3 skipped too), resumed on either path: the
    scale and the growth tracker go on bit for bit; --amp comes from the checkpoint."""
    checkpoint = str(tmp_path / "ck.pt")
    first_path, rest_path = paths
    args = (*FP16, "-o", "adam", "--growth-interval", "3")
    straight = invoke(rest_path, *args, "--steps", "9")
    first = invoke(first_path, *args, "--steps", "2", "--save", checkpoint)
    rest = invoke(rest_path, "-f", "jsonl", "--resume", checkpoint, "--steps", "7")
    assert rest.exit_code == 0, rest.stderr
    assert first.stdout + rest.stdout == straight.stdout
    assert [r["skipped"] for r in jsonl(rest.stdout)][:1] == [True]


@pytest.mark.slow
def test_resume_inside_an_accumulation_window_is_byte_identical(invoke, tmp_path):
    """Step 3's second micro-batch fails (forward calls: 4 a shown step, 3 micro-batches and
    the one-batch check): the checkpoint holds step 2, skipped steps and the scale
    included, and going on repeats the uninterrupted run."""
    (tmp_path / "flaky.py").write_text(flaky_on_data(10))
    model = f"{tmp_path}/flaky.py:build"
    args = ("manual", "--data", "digits", "-m", model, "-o", "adam", "--batch-size", "100")
    args += ("--accumulate", "3", "-f", "jsonl", "--amp", "fp16", "--loss-scale", str(2.0**120))
    whole = invoke(*args, "--steps", "6")
    assert whole.exit_code == 0, whole.stderr
    (tmp_path / "fail").touch()
    checkpoint = str(tmp_path / "ck.pt")
    failed = invoke(*args, "--steps", "6", "--save", checkpoint)
    assert failed.exit_code == 2
    assert "step 3: forward() or backward() raised ValueError: flaky" in failed.stderr
    (tmp_path / "fail").unlink()
    rest = invoke("optim", "--resume", checkpoint, "-m", model, "-f", "jsonl")
    assert rest.exit_code == 0, rest.stderr
    assert failed.stdout + rest.stdout == whole.stdout
    steps = [r for r in jsonl(whole.stdout) if "params" in r]
    assert [r["skipped"] for r in steps[1:]] == [True] * 6


def test_a_resumed_run_keeps_its_amp(invoke, tmp_path):
    checkpoint = str(tmp_path / "ck.pt")
    run(invoke, "optim", "-m", "mlp", "--amp", "bf16", "-f", "jsonl", "--steps", "1",
        "--save", checkpoint)  # fmt: skip
    straight = invoke("optim", "-m", "mlp", "--amp", "bf16", "-f", "jsonl", "--steps", "2")
    rest = invoke("optim", "--resume", checkpoint, "-f", "jsonl", "--steps", "1")
    assert rest.exit_code == 0, rest.stderr
    assert rest.stdout.splitlines()[-1] == straight.stdout.splitlines()[-1]
    other = invoke("optim", "--resume", checkpoint, "--amp", "fp16", "--steps", "1")
    assert other.exit_code == 2
    assert other.stderr == (
        f"gradcli: error: --resume {checkpoint}: the checkpoint was saved with --amp bf16, "
        "this run has --amp fp16; resume with the --amp it was saved with\n"
    )


def test_machine_and_table_formats_show_the_scaling(invoke):
    csv = invoke("manual", "-m", "linear", "--amp", "fp16", "--steps", "4", "-f", "csv")
    rows = [line.split(",") for line in csv.stdout.splitlines()]
    assert rows[0][-2:] == ["scale", "skipped"]
    assert [r[-2:] for r in rows[1:3]] == [["", ""], ["", ""]]  # step 0: two parameters
    assert rows[3][-2:] == ["65536.0", "true"] and rows[-1][-2:] == ["8192.0", "false"]
    table = invoke("manual", "-m", "linear", "--amp", "fp16", "--steps", "4", "-f", "table",
                   "--state")  # fmt: skip
    assert table.exit_code == 0, table.stderr
    assert "scale 65536 (skipped: inf/NaN grad)" in table.stdout
    assert "scaler state after update(): scale 8192, growth tracker 1" in table.stdout
    assert "3 of 4 steps skipped (inf/NaN gradients)" in table.stdout
    assert 'GradScaler("cpu", init_scale=65536,\ngrowth_interval=2000)' in table.stdout


def test_a_non_finite_loss_still_diverges(invoke):
    """A skipped step is not divergence; a loss that is not finite is (exit 3)."""
    result = invoke("optim", *FP16, "--lr", "1e30", "--steps", "20", "--loss-scale", "1")
    assert result.exit_code == 3
    assert "not finite" in result.stderr or "the loss is" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--loss-scale", "0"), "--loss-scale must be a number in (0, 3.403e+38]"),
        (("--loss-scale", "1e39"), "--loss-scale must be a number in (0, 3.403e+38]"),
        (("--loss-scale", "nan"), "got nan"),
        (("--growth-interval", "0"), "--growth-interval must be an integer in [1, 2**31)"),
        (("--loss-scale", "abc"), "'abc' is not a number"),
        (("-o", "lbfgs"), "--amp fp16: lbfgs evaluates the loss itself"),
        (("--dtype", "float64"), "--amp fp16: mixed precision keeps float32 master weights"),
        (("--print-script", "-f", "table"), "a script prints JSON lines, not --format table"),
    ],
)
def test_bad_scaler_options_are_one_line(invoke, args, message):
    result = invoke("optim", "--amp", "fp16", *args, "--steps", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize("option", [("--loss-scale", "8"), ("--growth-interval", "5")])
def test_scaler_options_need_fp16(invoke, option):
    for amp in ((), ("--amp", "bf16")):
        result = invoke("optim", *amp, *option, "--steps", "1")
        assert result.exit_code == 2
        assert result.stderr == (
            f"gradcli: error: {option[0]} applies with --amp fp16 only (its gradient scaler)\n"
        )


def test_the_mixed_precision_pitfalls_show_their_numbers():
    from gradcli.lessons import mixed_precision

    rows = {r.quantity: r for r in mixed_precision.clip_before_unscale().rows}
    assert rows["norm clipping saw"].mistake[0] == pytest.approx(65536 * math.sqrt(56))
    assert rows["its norm"].mistake[0] == pytest.approx(2.0**-16)  # max_norm / S
    assert rows["its norm"].correct[0] == pytest.approx(1.0)
    rows = {r.quantity: r for r in mixed_precision.fp16_without_scaler().rows}
    assert rows["elements that became 0"].mistake == "2 of 4"
    assert rows["elements that became 0"].correct == "0 of 4"
    assert rows["grad the update used"].mistake[2:] == (0.0, 0.0)
    assert rows["grad the update used"].correct == rows["float32 grad (no autocast)"].correct


def test_pitfalls_lists_the_mixed_precision_pitfalls(invoke):
    result = invoke("pitfalls", "-f", "table")
    assert result.exit_code == 0, result.stderr
    assert "clip-before-unscale" in result.stdout
    assert "fp16-without-scaler" in result.stdout


@pytest.mark.parametrize(
    "extra",
    [
        ("--accumulate", "4"),
        ("--accumulate", "4", "--clip-norm", "1", "--schedule", "StepLR(step_size=2, gamma=0.5)"),
        ("--clip-value", "0.5", "--schedule", "ExponentialLR(gamma=0.9)", "--loss-scale", "1e30"),
    ],
    ids=["accumulate", "accumulate-clip-schedule", "clip-schedule-skips"],
)
def test_manual_and_optim_agree_with_skips_accumulation_clipping_and_schedules(invoke, extra):
    records = agree(invoke, *FP16, "-o", "adam", "--steps", "5", *extra)
    assert records[1]["skipped"] is True  # (65536 and 1e30 both overflow at first)


def test_master_weights_gradients_and_state_stay_float32():
    from gradcli.spec import RunSpec
    from gradcli.train.setup import prepare

    for path in ("optim", "manual"):
        spec = RunSpec(model="mlp", optimizer="adam", amp="fp16", steps=2, format="jsonl")
        training, info = prepare(spec, path)
        records = list(training)
        assert records[-1].skipped is False and info.scaler is not None
        params = list(training.problem.parameters())
        assert {p.dtype for p in params} == {torch.float32}
        state = training.update.state[params[0]]
        assert state["exp_avg"].dtype == torch.float32


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda saved: saved["grad_scaler"].update(scale=-1.0), "grad_scaler['scale'] is -1.0"),
        (lambda saved: saved.pop("grad_scaler"), "--amp fp16 and no grad_scaler"),
    ],
    ids=["negative-scale", "no-scaler"],
)
def test_a_damaged_scaler_state_is_one_line(invoke, tmp_path, edit, message):
    checkpoint = tmp_path / "ck.pt"
    run(invoke, "optim", *FP16, "--steps", "1", "--save", str(checkpoint))
    saved = torch.load(checkpoint, weights_only=True)
    edit(saved)
    torch.save(saved, checkpoint)
    result = invoke("manual", "--resume", str(checkpoint), "--steps", "1")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "not a valid gradcli checkpoint" in lines[0]
    assert message in lines[0]


def test_explain_with_bf16_is_the_float32_rule_on_both_paths(invoke):
    """--amp bf16 has no scaler: --explain shows the rule alone, alike on both paths."""
    records = agree(invoke, "-m", "mlp", "--amp", "bf16", "-f", "jsonl", "--steps", "1",
                    "--explain")  # fmt: skip
    assert records[1]["explain"][0].startswith("net.0.weight[0]: θ − lr·g")
    assert "scale" not in records[1]
