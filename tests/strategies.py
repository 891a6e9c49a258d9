"""Hypothesis strategies drawn from the optimizer catalog, so every optimizer module is
property-tested the moment it exists.

A keyword is drawn from the test range its declaration gives (``Hyperparameter(...,
tested=(low, high))``), else from its allowed range; an unbounded keyword (weight decay,
ε, ...) needs ``tested=``, so that runs stay finite: ``value_of`` says so. A keyword whose
torch default lies outside its test range (LBFGS's ``max_iter``) is always drawn.
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


def _real(h: Hyperparameter, allowed: Real, tested: tuple[float, float] | None):
    low, high = tested or (allowed.low, allowed.high)
    assert high is not None and math.isfinite(high), (
        f"declare tested=(low, high) on the hyperparameter {h.name!r}"
    )
    floats = st.floats(low, high, exclude_min=allowed.low_open and low == allowed.low)
    return floats.filter(lambda x: _allows(allowed, x))


def _allows(allowed: Real | Integer, x: float) -> bool:
    try:
        allowed.check(x)
    except ValueError:
        return False
    return True


def value_of(h: Hyperparameter, allowed=None, part: int | None = None):
    """A strategy for the values of ``h`` (or of its part number ``part``)."""
    if allowed is None and h.tested_values:
        return st.sampled_from(h.tested_values)
    allowed = allowed or h.allowed
    tested = h.tested_part(part) if part is not None else h.tested
    if isinstance(allowed, Flag):
        return st.booleans()
    if isinstance(allowed, Choice):
        return st.sampled_from(allowed.names)
    if isinstance(allowed, Integer):
        low, high = tested or (allowed.low, allowed.low + 10)
        return st.integers(int(low), int(high))
    if isinstance(allowed, Maybe):
        return st.one_of(st.none(), value_of(h, allowed.inner, part))
    if isinstance(allowed, Several):
        parts = [value_of(h, p, i) for i, p in enumerate(allowed.parts)]
        return st.tuples(*parts).filter(lambda v: _several_allows(allowed, v))
    return _real(h, allowed, tested)  # type: ignore[arg-type]


def always_drawn(h: Hyperparameter) -> bool:
    """Whether torch's default lies outside the test range (too slow to test there)."""
    if h.tested is None or isinstance(h.tested[0], tuple):
        return False
    if isinstance(h.default, bool) or not isinstance(h.default, int | float):
        return False
    low, high = h.tested
    return not low <= h.default <= high  # type: ignore[operator]


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
        if h.name != "maximize" and (always_drawn(h) or draw(st.booleans())):
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
