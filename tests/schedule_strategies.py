"""Hypothesis strategies for learning-rate schedules, drawn from the schedule catalog: every
scheduler module is property-tested the moment it exists (``gradcli schedule`` and training
with ``--schedule`` alike)."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from gradcli import schedules
from gradcli.errors import GradcliError
from gradcli.optimizers.catalog import Choice, Flag, Hyperparameter, Integer, Maybe, Real
from gradcli.schedules.catalog import REQUIRED, Integers, Scheduler, Schedulers
from gradcli.schedules.schedule_spec import ScheduleSpec, parse_schedule

STEPS = 200
# Test ranges the harness sets (the others: ``tested=`` on each keyword's declaration, else
# its allowed range): OneCycleLR refuses more steps than total_steps.
HARNESS = {"total_steps": (STEPS, 2 * STEPS)}
LEFT_AT_NONE = ("epochs", "steps_per_epoch")  # total_steps says it
SIMPLE = [s for s in schedules.catalog().values() if s.stepped_alone and not s.nests]


def value_of(h: Hyperparameter, allowed=None, children: st.SearchStrategy | None = None):
    allowed = allowed or h.allowed
    tested = HARNESS.get(h.name, h.tested)
    if isinstance(allowed, Flag):
        return st.booleans()
    if isinstance(allowed, Choice):
        return st.sampled_from(allowed.names)
    if isinstance(allowed, Maybe):
        return st.none() | value_of(h, allowed.inner)
    if isinstance(allowed, Integer):
        low, high = tested or (allowed.low, allowed.low + 50)
        return st.integers(max(int(low), allowed.low), int(high))
    if isinstance(allowed, Integers):
        found = st.lists(st.integers(allowed.low, STEPS), max_size=5)
        return found.map(sorted) if allowed.increasing else found
    if isinstance(allowed, Schedulers):
        assert children is not None
        return st.lists(children, min_size=1, max_size=3)
    assert isinstance(allowed, Real)
    low, high = tested or (allowed.low, allowed.high)
    assert high is not None, f"declare tested=(low, high) on the keyword {h.name!r}"
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
        given_[h.name] = draw(value_of(h, children=children))
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
