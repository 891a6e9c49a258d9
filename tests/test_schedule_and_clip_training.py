"""Training with ``--schedule`` and ``--clip-norm`` / ``--clip-value``: the hand-written path
and torch's (``torch.optim.lr_scheduler``, ``torch.nn.utils.clip_grad_*_``) agree bit for bit
at every step, records carry ``lr``, ``grad_norm`` and ``clipped``, checkpoints carry the
schedule, and bad input is one line."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import replace

import pytest
import torch
from helpers import bits, jsonl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lanes import fast_cases
from schedule_strategies import spec_of

from gradcli import schedules
from gradcli.errors import GradcliError
from gradcli.spec import RunSpec, validate
from gradcli.train.clipping import Clipping, clip_by_hand, clip_with_torch
from gradcli.train.setup import prepare

STEPS = 30
# optimizers with momentum or betas (OneCycleLR and CyclicLR drive them), one without, and
# one that evaluates the loss itself
OPTIMIZERS = [
    ("sgd", {"momentum": 0.9}),
    ("adam", {}),
    ("rmsprop", {"momentum": 0.5}),
    ("adagrad", {}),
    ("lbfgs", {}),
]
CLIPS = [{}, {"clip_norm": 0.5}, {"clip_norm": 1.0, "norm_type": math.inf}, {"clip_value": 0.05}]


def _both(spec: RunSpec):
    """Both paths in lockstep: their records, step by step."""
    spec = validate(spec)
    manual, _ = prepare(spec, "manual")
    optim, _ = prepare(spec, "optim")
    yield from zip(manual, optim, strict=True)
    for m, o in zip(manual.problem.parameters(), optim.problem.parameters(), strict=True):
        assert torch.equal(bits(m), bits(o)), "the final parameters differ"


def _same(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a.hex() == b.hex())


@pytest.mark.parametrize("name", fast_cases(list(schedules.catalog()), {"steplr"}))
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_every_schedule_trains_bit_for_bit_on_both_paths(name, data):
    schedule = data.draw(spec_of(schedules.catalog()[name]))
    optimizer, settings_ = data.draw(st.sampled_from(OPTIMIZERS))
    if schedule.drives_momentum and optimizer not in ("sgd", "adam", "rmsprop"):
        optimizer, settings_ = "sgd", {"momentum": 0.9}
    spec = RunSpec(
        model=data.draw(st.sampled_from(["linear", "mlp", "rosenbrock"])),
        optimizer=optimizer,
        settings=settings_,
        lr=data.draw(st.sampled_from([None, 0.01])),
        dtype=data.draw(st.sampled_from(["float32", "float64"])),
        impl=data.draw(st.sampled_from([None, "foreach"])) if optimizer != "lbfgs" else None,
        steps=STEPS,
        schedule=schedule.text,
        device="cpu",
        **data.draw(st.sampled_from(CLIPS)),
    )
    try:
        validate(spec)
    except GradcliError as refused:  # torch's RMSprop cannot start its momentum at 0
        assume("momentum buffer" not in str(refused))
        raise
    lrs = []
    for manual, optim in _both(spec):
        assert _same(manual.lr, optim.lr), (schedule.text, manual.step)
        assert _same(manual.grad_norm, optim.grad_norm)
        assert manual.clipped == optim.clipped
        # values, gradients and updates at full precision (repr: a NaN equals a NaN, and
        # -0.0 differs from 0.0)
        assert repr(manual.params) == repr(optim.params)
        lrs.append(optim.lr)
    assert lrs[0] is None and all(lr is not None for lr in lrs[1:])


@settings(max_examples=60, deadline=None)
@given(
    shapes=st.lists(st.sampled_from([(3,), (2, 4), (5, 1), ()]), min_size=1, max_size=4),
    dtypes=st.lists(st.sampled_from([torch.float32, torch.float64]), min_size=4, max_size=4),
    norm_type=st.sampled_from([1.0, 2.0, 3.5, math.inf]),
    limit=st.floats(1e-3, 10.0),
    by_value=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_clipping_by_hand_is_torchs_bit_for_bit(shapes, dtypes, norm_type, limit, by_value, seed):
    """Mixed dtypes too: torch groups the gradients by device and dtype, and so does the rule."""
    generator = torch.Generator().manual_seed(seed)
    grads = [
        torch.randn(shape, generator=generator, dtype=torch.float64).to(dtypes[i]) * 3
        for i, shape in enumerate(shapes)
    ]
    clipping = Clipping(clip_value=limit) if by_value else Clipping(limit, norm_type)
    mine, theirs = [], []
    for params in (mine, theirs):
        for g in grads:
            p = torch.nn.Parameter(torch.zeros_like(g))
            p.grad = g.clone()
            params.append(p)
    by_hand = clip_by_hand(mine, clipping)
    with_torch = clip_with_torch(theirs, clipping)
    assert by_hand is not None and with_torch is not None
    for a, b in zip(mine, theirs, strict=True):
        assert torch.equal(bits(a.grad), bits(b.grad))
    assert torch.equal(bits(by_hand.grad_norm), bits(with_torch.grad_norm))
    assert bool(by_hand.fired) == bool(with_torch.fired)
    total = torch.linalg.vector_norm(
        torch.cat([g.double().reshape(-1) for g in grads]), 2.0 if by_value else norm_type
    )
    assert float(by_hand.grad_norm) == pytest.approx(float(total), rel=1e-5)  # float32 sums
    if by_value:
        assert bool(by_hand.fired) == any(bool((g.abs() > limit).any()) for g in grads)
    else:
        assert bool(by_hand.fired) == (limit / (float(by_hand.grad_norm) + 1e-6) < 1)


SCHEDULES = [
    "OneCycleLR(max_lr=0.1, total_steps=40)",
    "CyclicLR(base_lr=0.001, max_lr=0.05, step_size_up=4)",
    "ReduceLROnPlateau(patience=1, factor=0.5)",
    "SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=5), "
    "CosineAnnealingLR(T_max=35)], milestones=[5])",
    "ChainedScheduler(schedulers=[ConstantLR(factor=0.5, total_iters=4), "
    "ExponentialLR(gamma=0.9)])",
]


@pytest.mark.parametrize("schedule", fast_cases(SCHEDULES))
def test_manual_and_optim_print_the_same_json_lines(invoke, schedule):
    args = ["-m", "mlp", "-o", "SGD(momentum=0.9)", "--steps", "40", "--schedule", schedule]
    args += ["--clip-norm", "0.3", "--explain", "--state", "-f", "jsonl"]
    manual, optim = invoke("manual", *args), invoke("optim", *args)
    assert manual.exit_code == optim.exit_code == 0, manual.stderr
    assert manual.stdout == optim.stdout
    records = jsonl(optim.stdout)
    assert [r["step"] for r in records] == list(range(41))
    assert records[0]["lr"] is None and records[0]["loss"] is None
    assert all(isinstance(r["lr"], float) and r["grad_norm"] > 0 for r in records[1:])
    assert len({r["lr"] for r in records[1:]}) > 1  # the schedule moved it
    assert all(r["explain"][0].startswith("lr: ") for r in records[1:])
    assert all(r["explain"][1].startswith("clip: ") for r in records[1:])
    fired = sum(r["clipped"] for r in records[1:])
    assert f"clipping fired on {fired} of 40 steps" in optim.stderr


def test_the_lr_is_torchs_schedulers_at_every_step(invoke):
    """The record's lr is the one torch's scheduler set for that step's update."""
    schedule = "OneCycleLR(max_lr=0.1, total_steps=25)"
    result = invoke("optim", "-m", "seed", "--steps", "25", "--schedule", schedule, "-f", "jsonl")
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=25)
    expected = []
    for _ in range(25):
        expected.append(optimizer.param_groups[0]["lr"])
        param.grad = torch.ones(3)
        optimizer.step()
        scheduler.step()
    assert [r["lr"] for r in jsonl(result.stdout)[1:]] == expected


def test_without_a_schedule_the_lr_is_the_optimizers(invoke):
    result = invoke("manual", "-m", "seed", "--lr", "0.25", "--steps", "3", "-f", "jsonl")
    assert [r["lr"] for r in jsonl(result.stdout)] == [None, 0.25, 0.25, 0.25]
    assert all("grad_norm" not in r and "clipped" not in r for r in jsonl(result.stdout))
    assert "clipping" not in result.stderr


def test_the_record_shows_the_clipped_gradient_and_the_norm_before(invoke):
    result = invoke("manual", "-m", "seed", "--steps", "1", "--clip-norm", "0.1", "-f", "jsonl")
    step = jsonl(result.stdout)[1]
    grad = step["params"]["w"]["grad"]
    # loss = mean(w): every gradient element 1/3, so the norm before clipping is √3/3
    assert step["grad_norm"] == pytest.approx(math.sqrt(3) / 3, rel=1e-6)
    assert step["clipped"] is True
    assert math.sqrt(sum(g * g for g in grad)) == pytest.approx(0.1, rel=1e-5)
    loose = invoke("manual", "-m", "seed", "--steps", "1", "--clip-value", "1", "-f", "jsonl")
    assert jsonl(loose.stdout)[1]["clipped"] is False
    assert jsonl(loose.stdout)[1]["params"]["w"]["grad"] == pytest.approx([1 / 3] * 3)


def test_csv_has_lr_and_clipping_columns(invoke):
    result = invoke(
        "optim",
        "-m",
        "seed",
        "--steps",
        "2",
        "--schedule",
        "StepLR(step_size=1, gamma=0.5)",
        "--clip-value",
        "0.1",
        "-f",
        "csv",
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["lr"] for r in rows] == ["", "0.001", "0.0005"]
    assert [r["clipped"] for r in rows] == ["", "true", "true"]
    assert rows[0]["total_grad_norm"] == "" and float(rows[1]["total_grad_norm"]) > 0


def test_the_table_shows_the_lr_and_the_clipping(invoke):
    result = invoke(
        "manual",
        "-m",
        "seed",
        "--steps",
        "2",
        "--schedule",
        "StepLR(step_size=1, gamma=0.5)",
        "--clip-norm",
        "0.1",
        "-f",
        "table",
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "StepLR(step_size=1, gamma=0.5)" in lines[0]
    assert "clip_grad_norm_(max_norm=0.1, norm_type=2)" in result.stdout
    headers = [line for line in lines if line.startswith("step ")]
    assert headers[1].startswith("step 1/2   loss 2   lr 0.001   grad norm 0.57735 (clipped)")
    assert headers[2].split("   ")[2] == "lr 0.0005"
    assert any(
        line.split() == ["clipping", "fired", "on", "2", "of", "2", "steps"] for line in lines
    )


@pytest.mark.parametrize("path", fast_cases(["manual", "optim"]))
@pytest.mark.parametrize(
    "schedule",
    fast_cases(
        ["OneCycleLR(max_lr=0.1, total_steps=60)", "ReduceLROnPlateau(patience=1, factor=0.5)"],
        {"ReduceLROnPlateau(patience=1, factor=0.5)"},
    ),
)
def test_a_schedule_resumes_byte_identically(invoke, tmp_path, path, schedule):
    args = [path, "-m", "mlp", "-o", "adam", "--schedule", schedule, "--clip-norm", "0.5"]
    args += ["-f", "jsonl", "--state"]
    whole = invoke(*args, "--steps", "60").stdout
    ckpt = tmp_path / "a.pt"
    first = invoke(*args, "--steps", "30", "--save", str(ckpt))
    second = invoke(*args, "--steps", "30", "--resume", str(ckpt))
    assert first.exit_code == second.exit_code == 0, second.stderr
    assert first.stdout + second.stdout == whole
    other = "optim" if path == "manual" else "manual"
    crossed = invoke(other, *args[1:], "--steps", "30", "--resume", str(ckpt))
    assert crossed.stdout == second.stdout


def test_compare_follows_the_schedule_on_both_paths(invoke):
    result = invoke(
        "compare",
        "-m",
        "mlp",
        "-o",
        "sgd,adam",
        "--momentum",
        "0.9",
        "--steps",
        "20",
        "--schedule",
        "OneCycleLR(max_lr=0.05, total_steps=20)",
        "--clip-norm",
        "1",
        "-f",
        "jsonl",
    )
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert all(r["bit_identical"] for r in records)
    lrs = [r["lr"] for r in records if r["optimizer"] == "adam"]
    assert lrs[0] is None  # step 0: no update yet, as in optim's records
    assert lrs[1] == pytest.approx(0.05 / 25) and max(lrs[1:]) == pytest.approx(0.05, rel=0.05)


@pytest.mark.parametrize(
    "args, says",
    fast_cases(
        [
            (["--schedule", "StepLR()"], "--schedule StepLR(): StepLR needs step_size"),
            (["--schedule", "StepLR(step_size=__import__('os'))"], "step_size must be a literal"),
            (["--schedule", "Nope(x=1)"], "unknown scheduler 'Nope'"),
            (
                ["--schedule", "OneCycleLR(max_lr=0.1, total_steps=10)", "--steps", "11"],
                "at most 10",
            ),
            (["--schedule", "OneCycleLR(max_lr=0.1, total_steps=10)", "-o", "adagrad"], "momentum"),
            (["--clip-norm", "0"], "--clip-norm must be a finite number > 0, got 0.0"),
            (["--clip-value", "nan"], "--clip-value must be a finite number > 0"),
            (["--norm-type", "2"], "--norm-type applies with --clip-norm only"),
            (["--clip-norm", "1", "--norm-type", "-1"], "--norm-type must be a number > 0 or inf"),
            (["--clip-norm", "1", "--clip-value", "1"], "give one of them"),
            (["-m", "embedding", "-o", "sparseadam", "--clip-norm", "1"], "cannot clip sparse"),
        ],
        4,
        several=True,
    ),
)
@pytest.mark.parametrize("command", fast_cases(["optim", "manual"]))
def test_bad_schedule_and_clipping_are_one_line_and_exit_2(invoke, command, args, says):
    result = invoke(command, "--steps", "5", *args, "-f", "jsonl")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr


def test_resuming_with_another_schedule_is_refused(invoke, tmp_path):
    ckpt = tmp_path / "a.pt"
    saved = invoke(
        "optim", "--steps", "5", "--schedule", "StepLR(step_size=2)", "--save", str(ckpt)
    )
    assert saved.exit_code == 0
    result = invoke("optim", "--steps", "5", "--resume", str(ckpt), "-f", "jsonl")
    assert result.exit_code == 2 and result.stdout == ""
    assert "saved with --schedule StepLR(step_size=2), this run has no --schedule" in result.stderr


def test_the_schedule_in_a_config_file_and_print_config(invoke, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(
        'schedule = "CosineAnnealingLR(T_max=10)"\nclip_norm = 1.0\nnorm_type = inf\n'
    )
    printed = invoke("optim", "--config", str(config), "--print-config").stdout
    assert 'schedule = "CosineAnnealingLR(T_max=10)"' in printed
    assert "norm_type = inf" in printed
    again = tmp_path / "again.toml"
    again.write_text(printed)
    one = invoke("optim", "--config", str(config), "--steps", "10", "-f", "jsonl")
    two = invoke("optim", "--config", str(again), "--steps", "10", "-f", "jsonl")
    assert one.exit_code == 0 and one.stdout == two.stdout


@pytest.mark.slow
def test_ddp_trains_with_a_schedule_and_clipping():
    """Two workers clip the averaged gradient and keep one lr (ReduceLROnPlateau is fed the
    mean of their losses); rank 0 checks the result against one process."""
    from helpers import gradcli_process

    process = gradcli_process(
        "ddp",
        "--steps",
        "6",
        "--schedule",
        "ReduceLROnPlateau(patience=0, threshold=0.5)",
        "--clip-norm",
        "1",
        "-f",
        "jsonl",
        stdout=-1,
        stderr=-1,
        text=True,
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    records = jsonl(out)
    assert all(r["clipped"] for r in records[1:])
    assert records[-1]["lr"] < records[1]["lr"]  # the plateau was seen by every rank alike
    assert "within the tolerance" in err


def test_replace_keeps_a_spec_valid():
    spec = validate(RunSpec(schedule="StepLR(step_size=2)", clip_norm=1.0))
    assert validate(replace(spec, steps=3)).schedule_spec is not None


def test_scheduler_first_skips_the_first_lr_and_torch_warns():
    from gradcli.lessons import pitfalls

    rows = pitfalls.scheduler_first().rows
    lrs = [r for r in rows if r.quantity == "lr the update used"]
    assert [r.correct[0] for r in lrs] == [0.1, 0.05, 0.025]
    assert [r.mistake[0] for r in lrs] == [0.05, 0.025, 0.0125]  # one schedule step early
    assert rows[0].quantity == "torch warned"
    assert "lr_scheduler.step()` before `optimizer.step()`" in rows[0].mistake


def test_clip_after_step_updates_with_the_unclipped_gradient():
    from gradcli.lessons import pitfalls

    rows = {r.quantity: r for r in pitfalls.clip_after_step().rows}
    assert rows["grad the update used"].mistake == (2.0, 4.0, 6.0)  # d/dw Σw² = 2w
    assert rows["its norm"].correct[0] == pytest.approx(1.0, rel=1e-6)
    assert rows["w after"].mistake == pytest.approx((0.8, 1.6, 2.4))
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (w**2).sum().backward()
    torch.nn.utils.clip_grad_norm_([w], 1.0)
    assert rows["w after"].correct == tuple((torch.tensor([1.0, 2.0, 3.0]) - 0.1 * w.grad).tolist())


def test_explain_shows_the_closed_form_beside_torchs_recursion(invoke):
    args = ["-m", "seed", "--lr", "0.1", "--steps", "5", "--every", "5", "--explain", "-f", "jsonl"]
    result = invoke("manual", *args, "--schedule", "ExponentialLR(gamma=0.9)")
    line = jsonl(result.stdout)[-1]["explain"][0]
    recursion = 0.1 * 0.9 * 0.9 * 0.9 * 0.9  # what torch does: the previous lr times γ
    assert line.startswith(f"lr: ExponentialLR(gamma=0.9) after 4 steps: lr = {recursion!r}")
    assert f"closed form base_lr·γ^e = 0.1·0.9^4 = {0.1 * 0.9**4!r}" in line
    assert recursion != 0.1 * 0.9**4 and "from it" in line  # they round differently
    cosine = invoke("optim", *args, "--schedule", "CosineAnnealingLR(T_max=10)")
    assert "(1 + cos(π·4/10))/2" in jsonl(cosine.stdout)[-1]["explain"][0]
