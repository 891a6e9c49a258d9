"""The hand-written path and torch.optim agree bit for bit, at every step."""

from __future__ import annotations

import pytest
import torch
from conftest import bits
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.engine import prepare
from gradcli.spec import MODELS, RunSpec, validate


def lockstep(spec: RunSpec, device: str = "cpu"):
    """Run both paths side by side; after each step, yield their parameters and states."""
    spec = validate(RunSpec(**{**spec.__dict__, "device": device}))
    manual, _ = prepare(spec, "manual")
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


def assert_identical(spec: RunSpec, device: str = "cpu") -> int:
    steps = 0
    for m_params, m_states, o_params, o_states in lockstep(spec, device):
        for mp, op in zip(m_params, o_params, strict=True):
            assert torch.equal(bits(mp), bits(op)), f"parameters differ at step {steps}"
        for ms, os_ in zip(m_states, o_states, strict=True):
            assert ms.keys() == os_.keys()
            for key in ms:
                assert torch.equal(bits(ms[key]), bits(os_[key])), f"state {key!r} differs"
        steps += 1
    return steps


sgd_settings = st.fixed_dictionaries(
    {
        "model": st.sampled_from(sorted(MODELS)),
        "dtype": st.sampled_from(["float32", "float64"]),
        "lr": st.one_of(st.none(), st.floats(1e-5, 0.05)),
        "momentum": st.one_of(st.none(), st.just(0.0), st.floats(0.0, 0.99)),
        "dampening": st.one_of(st.none(), st.floats(0.0, 1.0)),
        "weight_decay": st.one_of(st.none(), st.floats(0.0, 0.1)),
        "maximize": st.one_of(st.none(), st.booleans()),
        "seed": st.integers(0, 2**31),
    }
)


@settings(max_examples=40, deadline=None)
@given(sgd_settings, st.booleans())
def test_manual_equals_torch_optim_sgd_bit_for_bit(options, nesterov):
    if nesterov and (options["momentum"] or 0) > 0:
        options = {**options, "nesterov": True, "dampening": 0.0}
    if options["maximize"]:
        options["lr"] = 1e-4  # ascent diverges quickly; keep the numbers finite
    spec = RunSpec(steps=30, **options)
    assert assert_identical(spec) == 31


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_defaults_are_bit_identical_for_100_steps(model, dtype):
    assert assert_identical(RunSpec(model=model, dtype=dtype, steps=100)) == 101


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("model", sorted(MODELS))
def test_bit_identical_on_cuda(model):
    assert assert_identical(RunSpec(model=model, steps=50, momentum=0.9), device="cuda") == 51
