"""``--explain``: one step's update of a parameter's first element, with the numbers filled in.

Every number shown is the one torch computed (the state and parameter after the update are
read back, not recomputed), so each line ends on exactly the value in the table. Each
optimizer module writes its own formula from these pieces.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# The digits num() shows: six, or as many more as explain_line needs for the element it is
# explaining (set for the duration of one line; a module's explain() never sees the knob).
_DIGITS: ContextVar[int] = ContextVar("gradcli_explain_digits", default=6)
_MOST_DIGITS = 17  # enough for any float64


def _plain(x: float, digits: int) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:.{digits}f}"
    return f"{x:.{digits}g}"


def num(x: float) -> str:
    """Six decimals where that is readable, else six significant digits — more where the
    line needs them to tell θ before the update from θ after it (``explain_line``) — and a
    negative number in parentheses, so that it reads as one operand: ``0.1 × (-8.345218)``,
    ``(-0.5)²``."""
    text = _plain(x, _DIGITS.get())
    return f"({text})" if text.startswith("-") else text


def hyper(x: float) -> str:
    """A hyperparameter as the user would type it."""
    return f"{x:g}"


@dataclass(frozen=True)
class Element:
    """The first element of one parameter around one update."""

    name: str
    step: int
    lr: float
    theta: float  # before the update
    grad: float
    theta_new: float
    state_before: dict[str, float]  # optimizer state before the update (empty at first)
    state_after: dict[str, float]
    # what a schedule set for this update (OneCycleLR's, CyclicLR's momentum, or betas with
    # β1): the param_group's values as step() read them, over the run's hyperparameters
    scheduled: dict[str, Any] = field(default_factory=dict)

    def was(self, key: str, initial: float = 0.0) -> float:
        """A state value before the update (``initial`` when it did not exist yet)."""
        return self.state_before.get(key, initial)


def as_used(h: dict[str, Any], e: Element) -> dict[str, Any]:
    """The hyperparameters ``h`` as the update of ``e`` used them: a value a schedule set
    (``Element.scheduled``) in place of the run's, for the keys ``h`` has."""
    return {k: e.scheduled.get(k, v) for k, v in h.items()}


def effective_grad(
    e: Element, h: dict[str, Any], parts: list[str], *, decoupled: bool = False
) -> float:
    """Apply maximize and L2 weight decay as torch does, noting each in ``parts``."""
    g = e.grad
    if h.get("maximize"):
        g = -g
        parts.append(f"g = −g = {num(g)}")
    weight_decay = float(h.get("weight_decay", 0.0))
    if weight_decay != 0 and not decoupled:
        new = g + weight_decay * e.theta
        parts.append(
            f"g = g + λ·θ = {num(g)} + {hyper(weight_decay)} × {num(e.theta)} = {num(new)}"
        )
        g = new
    return g


def decayed_theta(e: Element, weight_decay: float, parts: list[str]) -> float:
    """Decoupled weight decay (AdamW's): θ shrinks before the update."""
    if weight_decay == 0:
        return e.theta
    shrunk = e.theta * (1 - e.lr * weight_decay)
    parts.append(
        f"θ = θ·(1 − lr·λ) = {num(e.theta)} × (1 − {hyper(e.lr)} × "
        f"{hyper(weight_decay)}) = {num(shrunk)}"
    )
    return shrunk


def _digits_apart(before: float, after: float) -> int:
    """The fewest digits (six at least) with which ``before`` and ``after`` print differently,
    when they differ: a tiny update must not read ``1.000000 − ... = 1.000000``."""
    digits = 6
    while (
        before != after
        and digits < _MOST_DIGITS
        and _plain(before, digits) == _plain(after, digits)
    ):
        digits += 1
    return digits


# A part ends on its result, which is no operand: ``= -0.5``, not ``= (-0.5)``.
_RESULT = re.compile(r"= \((-[^()\s]+)\)$")


def explain_line(
    formula: Callable[[Element, dict[str, Any]], list[str]],
    hyperparameters: dict[str, Any],
    element: Element,
) -> str:
    """One line: ``name[0]: part; part; ... = new value``, every number with the digits that
    tell this element's value before the update from its value after; the hyperparameters
    as the update used them (``as_used``: a schedule's momentum or β1)."""
    token = _DIGITS.set(_digits_apart(element.theta, element.theta_new))
    try:
        parts = formula(element, as_used(hyperparameters, element))
    finally:
        _DIGITS.reset(token)
    return f"{element.name}[0]: " + "; ".join(_RESULT.sub(r"= \1", part) for part in parts)
