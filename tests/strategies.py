"""Hypothesis strategies drawn from the optimizer catalog, so every optimizer module is
property-tested the moment it exists.

A keyword with a bounded range is drawn from it; an unbounded one (weight decay, ε, ...)
from the typical range below, so that runs stay finite. A new unbounded keyword needs a
line here: ``value_of`` says so.
"""

from __future__ import annotations

import math

from hypothesis import assume
from hypothesis import strategies as st

from gradcli.optimizers import catalog
from gradcli.optimizers.catalog import (
    Choice,
    Flag,
    Hyperparameter,
    Integer,
    Maybe,
    Optimizer,
    Real,
    Several,
)
from gradcli.spec import MODELS, SPARSE_MODELS, RunSpec, runs_on

# Where a run of 50 steps on the built-in problems stays finite and still does something.
TYPICAL = {
    "weight_decay": (0.0, 0.1),
    "eps": (1e-10, 1e-3),
    "lr_decay": (0.0, 0.5),
    "initial_accumulator_value": (0.0, 1.0),
    "betas": (0.0, 0.99),
    "beta1": (0.0, 0.99),
    "beta2": (0.5, 0.9999),
    "momentum": (0.0, 0.95),
    "alpha": (0.5, 0.999),
    "lambd": (0.0, 0.5),  # ASGD
    "t0": (0.0, 60.0),  # ASGD: mostly below 50 steps, so the averaging (μ < 1) runs too
    "etaplus": (1.0, 2.0),  # Rprop: η+ > 1 (torch's default 1.2)
    "step_sizes": (0.0, 1.0),  # Rprop: both bounds, drawn with Δ_min <= Δ_max
    "momentum_decay": (0.0, 0.1),  # NAdam: torch's default 4e-3; 0 keeps μ_t = β1/2
    "beta2_decay": (-1.0, 0.0),  # Adafactor: β̂2 = 1 − t^τ (torch's default −0.8)
    "d": (1.0, 4.0),  # Adafactor: the clipping threshold on RMS(u) (torch's default 1)
    "ns_steps": (1, 8),  # Muon: Newton–Schulz steps (torch's default 5)
    # LBFGS: a few iterations and evaluations a step (torch's 20 and 25 make examples slow)
    "max_iter": (1, 4),
    "max_eval": (1, 6),
    "history_size": (1, 8),  # below the iterations of a run, so the oldest pairs go too
    "tolerance_grad": (0.0, 1e-5),
    "tolerance_change": (0.0, 1e-5),
}
# Keywords always drawn (from TYPICAL), never left at torch's default: LBFGS's max_iter.
ALWAYS = {"max_iter"}
# Tuples whose parts only work together: drawn from these.
CHOSEN = {
    # Muon: torch's (Keller Jordan's) quintic, and two whose fixed point σ = 1 is stable
    # (p(1) = 1, p'(1) = 0), the classical 15/8, −10/8, 3/8 among them.
    "ns_coefficients": [(3.4445, -4.775, 2.0315), (1.875, -1.25, 0.375), (2.0, -1.5, 0.5)],
}


def _real(name: str, allowed: Real):
    low, high = TYPICAL.get(name, (allowed.low, allowed.high))
    assert high is not None and math.isfinite(high), f"tests/strategies.py: add {name} to TYPICAL"
    floats = st.floats(low, high, exclude_min=allowed.low_open and low == allowed.low)
    return floats.filter(lambda x: _allows(allowed, x))


def _allows(allowed: Real | Integer, x: float) -> bool:
    try:
        allowed.check(x)
    except ValueError:
        return False
    return True


def value_of(h: Hyperparameter, name: str | None = None, allowed=None):
    """A strategy for the values of ``h`` (or of one of its parts)."""
    name = name or h.name
    allowed = allowed or h.allowed
    if name in CHOSEN:
        return st.sampled_from(CHOSEN[name])
    if isinstance(allowed, Flag):
        return st.booleans()
    if isinstance(allowed, Choice):
        return st.sampled_from(allowed.names)
    if isinstance(allowed, Integer):
        low, high = TYPICAL.get(name, (allowed.low, allowed.low + 10))
        return st.integers(int(low), int(high))
    if isinstance(allowed, Maybe):
        return st.one_of(st.none(), value_of(h, name, allowed.inner))
    if isinstance(allowed, Several):
        names = h.shorthands or [name] * len(allowed.parts)
        parts = [value_of(h, n, p) for n, p in zip(names, allowed.parts, strict=True)]
        return st.tuples(*parts).filter(lambda v: _several_allows(allowed, v))
    return _real(name, allowed)


def _several_allows(allowed: Several, value: tuple) -> bool:
    try:
        allowed.check(value)
    except ValueError:
        return False
    return True


@st.composite
def settings(draw, optimizer: Optimizer):
    """Some of ``optimizer``'s keywords set (the rest at torch's defaults), as torch takes
    them together."""
    chosen = {}
    for h in optimizer.hyperparameters:
        if h.name != "maximize" and (h.name in ALWAYS or draw(st.booleans())):
            chosen[h.name] = draw(value_of(h))
    if optimizer.check is not None:
        assume(optimizer.check({**optimizer.defaults, **chosen}) is None)
    return chosen


@st.composite
def run_specs(draw, names=None, models=None, steps: int = 50):
    """A run of any optimizer on any problem whose gradients it takes (dense or sparse):
    its settings, lr, dtype and seed."""
    optimizer = catalog()[draw(st.sampled_from(names or list(catalog())))]
    runnable = [m for m in models or sorted(MODELS) if runs_on(optimizer, m)]
    assume(runnable)
    model = draw(st.sampled_from(runnable))
    chosen = draw(settings(optimizer))
    maximize = optimizer.hyperparameter("maximize") is not None and draw(st.booleans())
    if maximize:
        chosen["maximize"] = True
    # (SGD and Adagrad take sparse gradients only without weight decay)
    assume(optimizer.refuses(model in SPARSE_MODELS, {**optimizer.defaults, **chosen}) is None)
    return RunSpec(
        model=model,
        optimizer=optimizer.name,
        settings=chosen,
        dtype=draw(st.sampled_from(["float32", "float64"])),
        # ascent diverges quickly: keep it short-stepped so the numbers stay finite
        lr=1e-4 if maximize else draw(st.one_of(st.none(), st.floats(1e-5, 0.05))),
        seed=draw(st.integers(0, 2**31)),
        steps=steps,
    )
