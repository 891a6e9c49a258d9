"""``--explain``: one step's update of a parameter's first element, with the numbers filled in.

Every number shown is the one torch computed (the state and parameter after the update are
read back, not recomputed), so each line ends on exactly the value in the table. Each
optimizer module writes its own formula from these pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def num(x: float) -> str:
    """Six decimals where that is readable, else six significant digits."""
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:.6f}"
    return f"{x:.6g}"


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

    def was(self, key: str, initial: float = 0.0) -> float:
        """A state value before the update (``initial`` when it did not exist yet)."""
        return self.state_before.get(key, initial)


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


def explain_line(
    formula: Callable[[Element, dict[str, Any]], list[str]],
    hyperparameters: dict[str, Any],
    element: Element,
) -> str:
    """One line: ``name[0]: part; part; ... = new value``."""
    return f"{element.name}[0]: " + "; ".join(formula(element, hyperparameters))
