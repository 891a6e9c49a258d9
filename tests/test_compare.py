"""gradcli compare: every method by hand and with torch.optim, from the same start."""

from __future__ import annotations

import re
import warnings

import pytest
from helpers import jsonl
from lanes import fast_cases

from gradcli.optimizers import catalog
from gradcli.spec import RunSpec, runs_on
from gradcli.train.compare import Comparison, gaps


@pytest.mark.slow
def test_jsonl_has_one_record_per_step_and_method(invoke):
    result = invoke("compare", "-o", "sgd,adam", "-o", "rmsprop", "--steps", "4", "-f", "jsonl")
    assert result.exit_code == 0
    records = jsonl(result.stdout)
    assert [(r["step"], r["optimizer"]) for r in records] == [
        (step, o) for step in range(5) for o in ("sgd", "adam", "rmsprop")
    ]
    for r in records:
        assert set(r) == {
            "step",
            "optimizer",
            "label",
            "lr",
            "manual_loss",
            "optim_loss",
            "max_abs_diff",
            "max_ulps",
            "bit_identical",
        }
        assert r["max_abs_diff"] == 0.0 and r["max_ulps"] == 0 and r["bit_identical"] is True
        if r["step"]:
            assert r["manual_loss"] == r["optim_loss"]
    # every method starts from the same parameters
    assert len({r["manual_loss"] for r in records if r["step"] == 1}) == 1
    assert result.stderr.splitlines()[0].startswith("gradcli: sgd: loss ")


@pytest.mark.slow
def test_table_and_plot(invoke):
    result = invoke("compare", "-m", "rosenbrock", "--steps", "50", "--tol", "10", "-f", "table")
    assert result.exit_code == 0
    out = result.stdout
    classics = ["adagrad", "adam", "adamw", "rmsprop", "sgd"]  # no -o: these five
    assert classics == [o.name for o in catalog().values() if o.compared_by_default]
    for optimizer in classics:
        assert f"  {optimizer} " in out
    assert out.count("0 (bit-identical)") == len(classics)
    assert "loss (log scale)" in out and "step" in out
    assert "• adagrad   + adam   x adamw   * rmsprop   o sgd" in out


def test_steps_to_tol_column_only_with_tol(invoke):
    """Without --tol the column would show — for every run, which reads as "never"."""
    args = ["compare", "-m", "seed", "-o", "sgd,adam", "--steps", "3", "-f", "table"]
    without = invoke(*args).stdout
    assert "steps to tol" not in without and "—" not in without
    with_tol = invoke(*args, "--tol", "1.999").stdout.splitlines()
    header = next(line for line in with_tol if "optimizer" in line)
    assert re.split(r"\s{2,}", header.strip())[4] == "steps to tol"


def test_steps_to_tol_counts_updates_until_the_loss_is_below_it():
    comparison = Comparison([RunSpec(model="seed", optimizer="sgd", lr=0.3, steps=10)], tol=1.55)
    for _ in comparison:
        pass
    (summary,) = comparison.summaries
    # loss = mean(w) falls by exactly lr/3 = 0.1 per update from 2.0
    assert summary.losses[0] == 2.0
    assert summary.steps_to_tol == 5
    assert summary.final_loss == pytest.approx(1.0, abs=1e-5)
    assert summary.best_loss == summary.final_loss


def test_gaps_measure_ulps_and_sign_of_zero():
    import torch

    one = torch.tensor([1.0, 0.0])
    nxt = torch.tensor([torch.nextafter(torch.tensor(1.0), torch.tensor(2.0)).item(), -0.0])
    diff, ulps, differs = gaps([one], [nxt]).tolist()
    assert ulps == 1 and differs == 1.0 and diff == pytest.approx(2**-23)
    assert gaps([one], [one.clone()]).tolist() == [0.0, 0.0, 0.0]


def test_compare_shows_what_fused_does_honestly(invoke):
    """Whatever torch's fused CPU kernels do, compare reports the gap it measured."""
    result = invoke(
        "compare",
        "-o",
        "adam",
        "--impl",
        "fused",
        "--device",
        "cpu",
        "-m",
        "mlp",
        "--steps",
        "20",
        "-f",
        "jsonl",
    )
    assert result.exit_code == 0
    records = jsonl(result.stdout)
    for r in records:
        assert (r["max_ulps"] == 0) == (r["max_abs_diff"] == 0.0)


COMPARE_ERRORS = [
    (["-o", "sgd,lion"], "--optimizer: unknown optimizer 'lion'"),
    (
        ["-o", "sgd", "--beta1", "0.5"],
        "--beta1 does not apply to any of --optimizer sgd "
        "(it applies to: adam, adamax, adamw, nadam, radam, sparseadam)",
    ),
    (["--tol", "nan"], "--tol must be a finite number >= 0, got nan"),
    (["--tol", "-1"], "--tol must be a finite number >= 0, got -1.0"),
    (["-o", "rmsprop", "--impl", "fused", "--device", "cpu"], "has no fused implementation"),
]


@pytest.mark.parametrize(("args", "message"), fast_cases(COMPARE_ERRORS, 2, several=True))
def test_compare_bad_input(invoke, args, message):
    result = invoke("compare", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_a_diverging_run_ends_compare_with_exit_3(invoke):
    result = invoke("compare", "-m", "linear", "-o", "sgd,adam", "--lr", "1e10", "-f", "jsonl")
    assert result.exit_code == 3
    records = jsonl(result.stdout)  # every line still a record, the last step whole
    last = records[-1]["step"]
    assert [r["optimizer"] for r in records if r["step"] == last] == ["sgd", "adam"]
    assert last < 100
    assert result.stderr.startswith(f"gradcli: diverged: sgd: step {last}: the loss is ")
    assert len(result.stderr.splitlines()) == 1


def test_all_compares_every_optimizer_bit_for_bit(invoke):
    result = invoke("compare", "-m", "linear", "-o", "all", "--steps", "3", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    # (all that take dense gradients: not SparseAdam)
    expected = [name for name, o in catalog().items() if runs_on(o, "linear")]
    assert [r["optimizer"] for r in records if r["step"] == 3] == expected
    assert all(r["bit_identical"] for r in records)


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "mlp", "-o", "SGD(lr=0.1, momentum=0.9)"],
        ["-m", "seed", "-o", "adam", "--schedule", "StepLR(step_size=2, gamma=0.5)"],
    ],
)
def test_compares_records_agree_with_optims(invoke, args):
    """Step by step, compare's torch.optim path is optim's run: the same step numbers, the
    same lr (null at step 0, before any update) and the same loss."""
    steps = ["--steps", "5", "-f", "jsonl"]
    optim = jsonl(invoke("optim", *args, *steps).stdout)
    compared = jsonl(invoke("compare", *args, *steps).stdout)
    assert [(r["step"], r["lr"], r["optim_loss"]) for r in compared] == [
        (r["step"], r["lr"], r["loss"]) for r in optim
    ]


def test_compare_says_what_it_ran(invoke):
    """The header names the run as optim's does (model, schedule, clipping, device, dtype,
    steps), and a run's label its settings other than torch's defaults."""
    run = ["-m", "mlp", "--steps", "3", "--schedule", "StepLR(step_size=2)", "--clip-norm", "1"]
    optim = invoke("optim", *run, "-o", "SGD(lr=0.1, momentum=0.9)", "-f", "table").stdout
    result = invoke("compare", *run, "-o", "SGD(lr=0.1, momentum=0.9)", "-f", "table")
    assert result.exit_code == 0, result.stderr
    header = " ".join(result.stdout.split("manual vs torch.optim")[0].split())
    optim_header = " ".join(optim.split("step 0/3")[0].split())
    assert header == optim_header.replace("gradcli optim", "gradcli compare").replace(
        " · sgd lr=0.1 momentum=0.9", ""
    )
    assert header.startswith("gradcli compare · model mlp · StepLR(step_size=2) · clip_grad_norm_(")
    assert header.endswith(" float32 · 3 steps")
    labels = {
        r["label"]
        for r in jsonl(
            invoke("compare", *run, "-o", "SGD(lr=0.1, momentum=0.9)", "-o", "adam").stdout
        )
    }
    assert labels == {"sgd(momentum=0.9)", "adam"}


def _same_as_optim_and_manual(invoke, optimizer: str, *args: str) -> None:
    """compare's records of one method are optim's and manual's records of the same run:
    the same losses and lr at every step, the same ends of epochs, bit for bit."""
    ran = invoke("compare", "-o", optimizer, *args, "-f", "jsonl")
    assert ran.exit_code == 0, ran.stderr
    compared = jsonl(ran.stdout)
    for path in ("optim", "manual"):
        alone = invoke(path, "-o", optimizer, *args, "-f", "jsonl")
        assert alone.exit_code == 0, alone.stderr
        records = jsonl(alone.stdout)
        assert len(records) == len(compared)
        for mine, theirs in zip(compared, records, strict=True):
            assert mine["step"] == theirs["step"] and mine["lr"] == theirs["lr"]
            if "epoch_end" in mine:
                assert {k: v for k, v in mine.items() if k not in ("optimizer", "label")} == theirs
            else:
                assert mine[f"{path}_loss"] == theirs["loss"]
                assert mine["bit_identical"] is True


@pytest.mark.parametrize(
    "args",
    [
        ("-m", "linear", "--accumulate", "4"),
        ("-m", "linear", "--amp", "bf16"),
        (
            "-m",
            "mlp",
            "--accumulate",
            "2",
            "--amp",
            "bf16",
            "--clip-norm",
            "1",
            "--schedule",
            "StepLR(step_size=2, gamma=0.5)",
        ),
    ],
)
def test_accumulate_and_amp_give_the_records_optim_gives(invoke, args):
    _same_as_optim_and_manual(invoke, "adam", *args, "--steps", "5")


@pytest.mark.slow
def test_accumulate_on_data_gives_the_records_optim_gives(invoke):
    pytest.importorskip("sklearn")
    args = ("--data", "digits", "-m", "mlp", "--batch-size", "32", "--epochs", "1")
    _same_as_optim_and_manual(invoke, "SGD(lr=0.1, momentum=0.9)", *args, "--accumulate", "3")


def test_amp_fp16_is_refused_in_one_line(invoke):
    result = invoke("compare", "-o", "sgd", "--amp", "fp16")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "gradcli: error: --amp fp16: gradcli compare does not run a gradient scaler "
        "(GradScaler) yet; use --amp bf16\n"
    )


def test_reduce_lr_on_plateau_is_fed_the_loss_without_a_warning(invoke):
    """The loss each step feeds ReduceLROnPlateau is a number: torch warns on stderr when a
    tensor that requires grad is made one."""
    args = ("-m", "linear", "--schedule", "ReduceLROnPlateau(patience=0)", "--steps", "4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (pytest would keep a warning from stderr)
        result = invoke("compare", "-o", "sgd", *args, "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    optim = jsonl(invoke("optim", "-o", "sgd", *args, "-f", "jsonl").stdout)
    assert [r["lr"] for r in jsonl(result.stdout)] == [r["lr"] for r in optim]
