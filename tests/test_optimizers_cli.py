"""-o adam|adamw|rmsprop|adagrad, their options, --state, --explain and --impl from the CLI."""

from __future__ import annotations

import pytest
import torch
from helpers import jsonl
from lanes import fast_cases

from gradcli.optimizers import catalog
from gradcli.spec import MODELS, runs_on

WRONG_OPTION = [
    (
        ["-o", "sgd", "--beta1", "0.8"],
        "--beta1 does not apply to --optimizer sgd "
        "(it applies to: adam, adamax, adamw, nadam, radam, sparseadam)",
    ),
    (
        ["-o", "adam", "--momentum", "0.9"],
        "--momentum does not apply to --optimizer adam (it applies to: muon, rmsprop, sgd)",
    ),
    (
        ["-o", "adagrad", "--centered"],
        "--centered does not apply to --optimizer adagrad (it applies to: rmsprop)",
    ),
    (["-o", "rmsprop", "--amsgrad"], "--amsgrad does not apply to --optimizer rmsprop"),
    (["-o", "sgd", "--lr-decay", "0.1"], "--lr-decay does not apply to --optimizer sgd"),
    (
        ["-o", "adam", "--initial-accumulator-value", "1"],
        "--initial-accumulator-value does not apply to --optimizer adam (it applies to: adagrad)",
    ),
    (["-o", "adam", "--beta2", "1"], "--beta2 must be a number in [0, 1), got 1.0"),
    (["-o", "adam", "--eps", "-1"], "--eps must be a finite number >= 0, got -1.0"),
    (["-o", "rmsprop", "--alpha", "1.5"], "--alpha must be a number in [0, 1], got 1.5"),
    (["-o", "adagrad", "--lr-decay", "-1"], "--lr-decay must be a finite number >= 0"),
    (["--impl", "turbo"], "--impl: unknown impl 'turbo'; choose one of: forloop, foreach, fused"),
]


@pytest.mark.parametrize(
    ("args", "message"), WRONG_OPTION, ids=[" ".join(a) for a, _ in WRONG_OPTION]
)
def test_an_option_the_optimizer_does_not_take_is_a_usage_error(invoke, args, message):
    result = invoke("optim", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


@pytest.mark.slow
def test_manual_impl_is_forloop_or_foreach_never_fused(invoke):
    """manual writes torch's for-loop and foreach implementations by hand, not its fused
    kernels: --impl fused is one line naming what is allowed."""
    result = invoke("manual", "--impl", "fused")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "gradcli: error: --impl fused: gradcli manual writes torch's forloop and foreach "
        "implementations by hand, not its fused kernels; use --impl forloop or foreach\n"
    )
    args = ["manual", "-m", "mlp", "-o", "adam", "--steps", "3", "-f", "jsonl"]
    by_optim = invoke("optim", *args[1:], "--impl", "foreach")
    for impl in ("forloop", "foreach"):
        result = invoke(*args, "--impl", impl)
        assert result.exit_code == 0 and result.stdout == by_optim.stdout


def test_fused_where_torch_has_none_is_a_clear_error(invoke):
    result = invoke("optim", "-o", "rmsprop", "--impl", "fused", "--device", "cpu")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "gradcli: error: --impl fused: torch.optim.RMSprop has no fused "
        "implementation; use --impl forloop or foreach\n"
    )


@pytest.mark.parametrize("optimizer", fast_cases(list(catalog()), {"sgd", "adam"}))
def test_state_is_printed_under_torch_key_names_and_paths_agree(invoke, optimizer):
    extra = {
        "sgd": ["--momentum", "0.9"],
        "rmsprop": ["--centered", "--momentum", "0.5"],
        "adam": ["--amsgrad"],
    }.get(optimizer, [])
    model = catalog()[optimizer].problem or "mlp"  # SparseAdam needs sparse gradients
    args = ["-m", model, "-o", optimizer, "--steps", "5", "--state", "-f", "jsonl", *extra]
    manual, optim = invoke("manual", *args), invoke("optim", *args)
    assert manual.exit_code == optim.exit_code == 0
    assert manual.stdout == optim.stdout
    records = jsonl(optim.stdout)
    expected = {
        "sgd": {"momentum_buffer"},
        "adam": {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
        "adamw": {"step", "exp_avg", "exp_avg_sq"},
        "rmsprop": {"step", "square_avg", "momentum_buffer", "grad_avg"},
        "adagrad": {"step", "sum"},
        "sparseadam": {"step", "exp_avg", "exp_avg_sq"},
    }.get(optimizer)
    documented = set(catalog()[optimizer].state)  # what `gradcli optimizers NAME` lists
    for record in records[1:]:
        for p in record["params"].values():
            assert set(p["state"]) <= documented
            assert expected is None or set(p["state"]) == expected
            if "step" in p["state"]:
                assert p["state"]["step"] == [float(record["step"])]
    assert all("state" not in p for p in records[0]["params"].values())


def test_state_table(invoke):
    result = invoke("optim", "-m", "seed", "-o", "adam", "--steps", "1", "--state", "-f", "table")
    out = result.stdout
    assert "optimizer state after the update" in out
    assert "exp_avg_sq   [0.000111111, 0.000111111, 0.000111111]" in out


def test_explain_fills_the_numbers_into_the_formula(invoke):
    result = invoke("manual", "-m", "seed", "--steps", "1", "--explain", "-f", "jsonl")
    assert jsonl(result.stdout)[1]["explain"] == [
        "w[0]: θ − lr·g = 1.000000 − 0.001 × 0.333333 = 0.999667"
    ]


@pytest.mark.parametrize("optimizer", fast_cases(list(catalog()), {"sgd", "adam", "lbfgs"}))
def test_explain_ends_on_the_value_in_the_record(invoke, optimizer):
    model = catalog()[optimizer].problem or "linear"
    result = invoke(
        "optim", "-m", model, "-o", optimizer, "--steps", "3", "--explain", "-f", "jsonl"
    )
    records = jsonl(result.stdout)[1:]
    assert len(records) == 3, result.stderr
    for record in records:
        lines = record["explain"]
        assert [line.split("[0]:")[0] for line in lines] == list(record["params"])
        for line, p in zip(lines, record["params"].values(), strict=True):
            if isinstance(p["value"], list):  # (a larger tensor shows statistics only)
                assert line.endswith(f"= {p['value'][0]:.6f}")


def test_explain_in_the_table(invoke):
    out = invoke(
        "optim", "-m", "seed", "-o", "adam", "--steps", "1", "--explain", "-f", "table"
    ).stdout
    assert "\nw[0]\n  m = β1·m + (1 − β1)·g = 0.9 × 0.000000 + 0.1 × 0.333333 = 0.033333\n" in out


@pytest.mark.parametrize("impl", ["forloop", "foreach", "fused"])
def test_impl_runs_on_the_cpu(invoke, impl):
    result = invoke(
        "optim", "-o", "adam", "--impl", impl, "--device", "cpu", "--steps", "3", "-f", "jsonl"
    )
    assert result.exit_code == 0
    assert len(jsonl(result.stdout)) == 4


def test_impl_is_really_passed_to_torch(monkeypatch):
    from gradcli.spec import RunSpec
    from gradcli.train.setup import prepare

    for impl, flags in [
        ("forloop", (False, False)),
        ("foreach", (True, False)),
        ("fused", (False, True)),
    ]:
        training, _ = prepare(RunSpec(optimizer="adam", impl=impl, device="cpu"), "optim")
        group = training.update.optimizer.param_groups[0]
        assert (bool(group["foreach"]), bool(group["fused"])) == flags


@pytest.mark.parametrize("optimizer", fast_cases(list(catalog()), {"sgd", "adam"}))
def test_every_optimizer_lowers_every_loss(invoke, optimizer):
    """On every built-in problem whose gradients it takes (seed's loss has no minimum), with
    the learning rate the catalog has for it."""
    described = catalog()[optimizer]
    # (beale, himmelblau, rastrigin: the classics' lrs for them are tested in
    # tests/test_surfaces.py; the other optimizers start there from torch's default)
    surfaces = ("beale", "himmelblau", "rastrigin")
    models = [m for m in MODELS if m not in ("seed", *surfaces) and runs_on(described, m)]
    assert sorted(m for m in described.lrs if m not in surfaces) == sorted(models)
    assert set(described.lrs) <= {m for m in MODELS if runs_on(described, m)}
    for model in models:
        result = invoke(
            "manual",
            "-m",
            model,
            "-o",
            optimizer,
            "--steps",
            "100",
            "--every",
            "100",
            "-f",
            "jsonl",
        )
        first, final = result.stderr.split("loss ")[1].strip().split(" -> ")
        assert float(final) < 0.5 * float(first), (model, optimizer)
    assert torch.get_default_dtype() == torch.float32


@pytest.mark.parametrize("path", ["manual", "optim"])
def test_records_show_the_gradient_even_where_foreach_overwrites_it(invoke, path):
    """torch's foreach SGD with Nesterov momentum writes g + μ·b into p.grad; the record
    still shows the gradient of the loss (1/3 for every element of mean(w), every step)."""
    result = invoke(
        path,
        "-m",
        "seed",
        "-o",
        "SGD(momentum=0.9, nesterov=True)",
        "--impl",
        "foreach",
        "--steps",
        "3",
        "-f",
        "jsonl",
    )
    assert result.exit_code == 0, result.stderr
    third = torch.tensor(1 / 3, dtype=torch.float32).item()
    for record in jsonl(result.stdout)[1:]:
        assert record["params"]["w"]["grad"] == [third] * 3
