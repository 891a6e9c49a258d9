"""Hypothesis strategies for learning-rate schedules, drawn from the schedule catalog: every
scheduler module is property-tested the moment it exists (``gradcli schedule`` and training
with ``--schedule`` alike)."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from gradcli import schedules
from gradcli.errors import GradcliError
from gradcli.optimizers.catalog import Choice, Flag, Integer, Maybe, Real
from gradcli.schedules.catalog import REQUIRED, Integers, Scheduler, Schedulers
from gradcli.schedules.spec import ScheduleSpec, parse_schedule

STEPS = 200
# Where an unbounded keyword is drawn from (a bounded one: its allowed range).
TYPICAL = {
    "gamma": (0.0, 1.2),
    "eta_min": (0.0, 0.05),
    "power": (0.0, 3.0),
    "base_lr": (0.0, 0.5),
    "max_lr": (0.0, 1.0),
    "threshold": (0.0, 0.1),
    "min_lr": (0.0, 0.01),
    "eps": (0.0, 1e-6),
    "div_factor": (1.0, 100.0),
    "final_div_factor": (1.0, 1e5),
    "step_size": (1, 50),
    "total_iters": (1, 60),
    "T_max": (1, 80),
    "T_0": (1, 40),
    "T_mult": (1, 3),
    "step_size_up": (1, 40),
    "step_size_down": (1, 40),
    "patience": (0, 15),
    "cooldown": (0, 5),
    "total_steps": (STEPS, 2 * STEPS),  # OneCycleLR refuses more steps than total_steps
}
LEFT_AT_NONE = ("epochs", "steps_per_epoch")  # total_steps says it
SIMPLE = [s for s in schedules.catalog().values() if s.stepped_alone and not s.nests]


def value_of(name: str, allowed, children: st.SearchStrategy | None = None):
    if isinstance(allowed, Flag):
        return st.booleans()
    if isinstance(allowed, Choice):
        return st.sampled_from(allowed.names)
    if isinstance(allowed, Maybe):
        return st.none() | value_of(name, allowed.inner)
    if isinstance(allowed, Integer):
        low, high = TYPICAL.get(name, (allowed.low, allowed.low + 50))
        return st.integers(max(low, allowed.low), high)
    if isinstance(allowed, Integers):
        found = st.lists(st.integers(allowed.low, STEPS), max_size=5)
        return found.map(sorted) if allowed.increasing else found
    if isinstance(allowed, Schedulers):
        assert children is not None
        return st.lists(children, min_size=1, max_size=3)
    assert isinstance(allowed, Real)
    low, high = TYPICAL.get(name, (allowed.low, allowed.high))
    assert high is not None, f"add {name} to TYPICAL"
    return st.floats(low, high).filter(lambda x: _allows(allowed, x))


def _allows(allowed: Real, x: float) -> bool:
    try:
        allowed.check(x)
    except ValueError:
        return False
    return True


@st.composite
def spec_of(draw, scheduler: Scheduler) -> ScheduleSpec:
    """A spec with every keyword drawn (nested schedulers too), written out as torch's
    constructor and parsed back, so the parser is exercised on every draw."""
    children = st.sampled_from(SIMPLE).flatmap(spec_of)
    given_ = {}
    for h in scheduler.hyperparameters:
        if h.name in LEFT_AT_NONE:
            continue
        if h.default is not REQUIRED and not draw(st.booleans()):
            continue  # torch's default
        given_[h.name] = draw(value_of(h.name, h.allowed, children))
    if scheduler.torch_class == "SequentialLR":
        count = len(given_["schedulers"])
        given_["milestones"] = sorted(
            draw(st.lists(st.integers(1, STEPS), min_size=count - 1, max_size=count - 1))
        )
    if scheduler.torch_class == "OneCycleLR":
        given_.setdefault("total_steps", STEPS)
        if given_["total_steps"] is None:
            given_["total_steps"] = STEPS
    text = ScheduleSpec(scheduler, given_).text
    try:
        return parse_schedule(text)
    except GradcliError:
        assume(False)  # a combination torch cannot run (a OneCycleLR phase of no length)
        raise
