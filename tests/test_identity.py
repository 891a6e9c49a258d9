"""The hand-written path and torch.optim agree bit for bit, at every step: the for-loop rules
with torch's for-loop, the foreach rules with torch's foreach, and the defaults with torch's
defaults on every device."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest
import torch
from helpers import bits
from hypothesis import given, settings
from lanes import fast_cases
from strategies import run_specs

from gradcli.optimizers import catalog
from gradcli.spec import MODELS, SPARSE_MODELS, RunSpec, runs_on, validate
from gradcli.train.setup import prepare


def lockstep(spec: RunSpec, device: str = "cpu", manual_impl: str | None = None):
    """Run both paths side by side; after each step, yield their parameters and states.
    A run that diverges stops (at the same step on both paths, or zip fails). The manual
    path runs the rule for ``spec.impl`` unless ``manual_impl`` names another."""
    spec = validate(replace(spec, device=device))
    manual, _ = prepare(replace(spec, impl=manual_impl or spec.impl), "manual")
    optim, _ = prepare(spec, "optim")
    for _ in zip(manual, optim, strict=True):
        m_params = list(manual.problem.parameters())
        o_params = list(optim.problem.parameters())
        yield (
            m_params,
            [manual.update.state[p] for p in m_params],
            o_params,
            [optim.update.state[p] for p in o_params],
        )


def assert_identical(spec: RunSpec, device: str = "cpu", manual_impl: str | None = None) -> int:
    steps = 0
    for m_params, m_states, o_params, o_states in lockstep(spec, device, manual_impl):
        for mp, op in zip(m_params, o_params, strict=True):
            assert torch.equal(bits(mp), bits(op)), f"parameters differ at step {steps}"
        # (torch.optim.Adagrad fills its state at construction, the rule at its first step)
        for ms, os_ in zip(m_states, o_states, strict=True) if steps else ():
            assert ms.keys() == os_.keys()
            for key in ms:
                assert_same_state(ms[key], os_[key], key)
        steps += 1
    return steps


def assert_same_state(mine: object, theirs: object, key: str) -> None:
    """One state value, bit for bit: a tensor (dtype, device and layout too; a sparse one by
    its indices and values as stored), a number (SparseAdam's step, LBFGS's counters and
    step length), or a list of them (LBFGS's history, None in its empty slots)."""
    assert type(mine) is type(theirs), f"state {key!r}: {type(mine)} vs {type(theirs)}"
    if isinstance(mine, list):
        assert len(mine) == len(theirs), f"state {key!r} differs in length"
        for a, b in zip(mine, theirs, strict=True):
            assert_same_state(a, b, key)
    elif isinstance(mine, torch.Tensor):
        described = (mine.dtype, mine.device, mine.layout, mine.shape)
        assert described == (theirs.dtype, theirs.device, theirs.layout, theirs.shape), key
        if mine.is_sparse:
            assert torch.equal(mine._indices(), theirs._indices()), f"state {key!r} differs"
            mine, theirs = mine._values(), theirs._values()
        assert torch.equal(bits(mine), bits(theirs)), f"state {key!r} differs"
    else:  # (repr: -0.0 and NaN count as themselves)
        assert repr(mine) == repr(theirs), f"state {key!r}: {mine!r} vs {theirs!r}"


# Every optimizer on every built-in problem whose gradients (dense or sparse) it takes.
RUNNABLE = [
    pytest.param(model, name, id=f"{model}-{name}")
    for name, o in catalog().items()
    for model in sorted(MODELS)
    if runs_on(o, model)
]


def assert_identical_or_diverged(spec: RunSpec) -> None:
    steps = assert_identical(spec)
    if steps < spec.steps + 1:  # both stopped early: only divergence does that
        manual, _ = prepare(replace(spec, device="cpu"), "manual")
        for _ in manual:
            pass
        assert manual.diverged is not None and manual.stopped_at == steps - 1


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(run_specs())
def test_manual_equals_torch_optim_bit_for_bit(spec):
    """Parameters and optimizer state, every one of 50 steps, any optimizer."""
    assert_identical_or_diverged(spec)


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(run_specs(names=["sgd"]))
def test_manual_equals_torch_optim_sgd_bit_for_bit(spec):
    assert_identical_or_diverged(spec)


@pytest.mark.parametrize(
    ("model", "optimizer"), fast_cases(RUNNABLE, {("linear", "sgd"), ("mlp", "adam")}, several=True)
)
def test_defaults_are_bit_identical_for_100_steps(model, optimizer):
    spec = RunSpec(model=model, optimizer=optimizer, steps=100)
    assert assert_identical(spec) == 101


# --- foreach: manual --impl foreach against optim --impl foreach ----------------------------

# The optimizers torch runs with foreach (Muon: its AdamW part).
FOREACH = [
    name
    for name, o in catalog().items()
    if o.foreach_rule is not None or (o.rest and catalog()[o.rest].foreach_rule is not None)
]


@pytest.mark.parametrize("dtype", fast_cases(["float32", "float64"]))
@pytest.mark.parametrize("optimizer", fast_cases(FOREACH, 2))
def test_foreach_rules_equal_torch_foreach_bit_for_bit(optimizer, dtype):
    """Every optimizer, the four whose foreach rounds differently from the for-loop too.
    (Muon has no foreach: its AdamW part runs foreach on both paths.)"""
    spec = RunSpec(model="mlp", optimizer=optimizer, dtype=dtype, steps=30, impl="foreach")
    assert assert_identical(spec) == 31


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(run_specs(names=FOREACH, models=[m for m in MODELS if m not in SPARSE_MODELS], steps=30))
def test_foreach_rules_equal_torch_foreach_for_any_settings(spec):
    """(Sparse gradients: tests/test_foreach_rules.py.)"""
    assert_identical_or_diverged(replace(spec, impl="foreach"))


@pytest.fixture
def foreach_on_the_cpu(monkeypatch):
    """torch.optim's defaults as on CUDA, without a GPU: the CPU counted among the devices
    with foreach kernels (``_default_to_fused_or_foreach`` reads them from this function)."""
    import torch.optim.optimizer as torch_optimizer

    monkeypatch.setattr(torch_optimizer, "_get_foreach_kernels_supported_devices", lambda: ["cpu"])


def default_rules(optimizer: str) -> list:
    spec = validate(RunSpec(model="mlp", optimizer=optimizer, device="cpu"))
    training, _ = prepare(spec, "manual")
    return training.update.rules


@pytest.mark.parametrize("optimizer", fast_cases(FOREACH, 2))
def test_defaults_follow_torch_where_it_defaults_to_foreach(foreach_on_the_cpu, optimizer):
    """With no --impl, manual runs the rule of the implementation torch.optim picks by
    itself: where the device has foreach kernels, foreach, except Adafactor's (torch runs its
    foreach only when asked) and Muon's 2-D part (no foreach at all)."""
    assert assert_identical(RunSpec(model="mlp", optimizer=optimizer, steps=30)) == 31
    described = catalog()[optimizer]
    if optimizer == "adafactor":
        assert default_rules(optimizer) == [described.rule]
    elif optimizer == "muon":
        assert default_rules(optimizer) == [described.rule, catalog()["adamw"].foreach_rule]
    else:
        assert default_rules(optimizer) == [described.foreach_rule]


def test_defaults_are_the_for_loop_rules_on_the_cpu():
    for name in FOREACH:
        assert default_rules(name)[0] is catalog()[name].rule


def test_every_optimizer_torch_runs_with_foreach_has_a_foreach_rule():
    for optimizer in catalog().values():
        takes = inspect.signature(getattr(torch.optim, optimizer.torch_class)).parameters
        assert (optimizer.foreach_rule is not None) == ("foreach" in takes), optimizer.name


# torch's own foreach NAdam, RAdam and ASGD round some elements differently from its
# for-loop on the CPU (torch 2.13: NAdam 573 and RAdam 290 of 5,000 elements after 20 steps;
# ASGD computes θ − η·(g + λθ) in another order and η with tensor operations; Adafactor
# multiplies by the step size and adds, where the for-loop adds with alpha).
FOREACH_ROUNDS_DIFFERENTLY = {"nadam", "radam", "asgd", "adafactor"}


@pytest.mark.parametrize("optimizer", fast_cases(FOREACH, 2))
def test_cpu_foreach_against_the_for_loop_rules(optimizer):
    """On the CPU torch's foreach kernels round like the for-loop for most optimizers, so
    the for-loop rules equal them bit for bit too; where they do not (the four above: their
    foreach rules repeat the difference), the gap is float32 rounding."""
    spec = RunSpec(model="mlp", optimizer=optimizer, steps=30, impl="foreach")
    if optimizer in FOREACH_ROUNDS_DIFFERENTLY:
        gap = max_relative_gap(spec, "cpu", manual_impl="forloop")
        assert 0 < gap < 1e-5  # (0: torch's foreach now rounds like its for-loop here)
    else:
        assert assert_identical(spec, manual_impl="forloop") == 31


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("impl", ["forloop", "foreach", None])
@pytest.mark.parametrize(("model", "optimizer"), RUNNABLE)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bit_identical_on_cuda(model, optimizer, dtype, impl):
    """On CUDA each rule matches torch's implementation of its kind bit for bit, as on the
    CPU: the for-loop rules torch's single-tensor loop (``--impl forloop``), the foreach
    rules its foreach kernels (``--impl foreach``), and with neither, ``manual`` runs the
    rule of torch's own default there (foreach; the for-loop for Adafactor and for Muon's
    2-D part)."""
    spec = RunSpec(model=model, optimizer=optimizer, dtype=dtype, steps=50, impl=impl)
    assert assert_identical(spec, device="cuda") == 51


def max_relative_gap(spec: RunSpec, device: str, manual_impl: str | None = None) -> float:
    gap = 0.0
    for m_params, _, o_params, _ in lockstep(spec, device, manual_impl):
        for mp, op in zip(m_params, o_params, strict=True):
            mp, op = mp.detach(), op.detach()
            gap = max(gap, ((mp - op).abs().max() / op.abs().max().clamp_min(1e-30)).item())

    return gap


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize(("model", "optimizer"), RUNNABLE)
def test_cuda_default_foreach_against_the_for_loop_rules(model, optimizer):
    """What the foreach rules are for: torch's default on CUDA is foreach, and its kernels
    round some operations differently from the single-tensor loop. Seen on an H100 (torch
    2.11): SGD and RMSprop still match the for-loop rules bit for bit; Adam, AdamW and
    Adagrad round some elements one bit differently (their foreach kernels fuse a multiply
    and an add), so the runs drift apart by float32 rounding, nothing more."""
    spec = RunSpec(model=model, optimizer=optimizer, steps=50)
    if optimizer in ("sgd", "rmsprop"):
        assert assert_identical(spec, device="cuda", manual_impl="forloop") == 51
    else:
        assert max_relative_gap(spec, "cuda", manual_impl="forloop") < 1e-5
