"""Pieces of the plain code that ``--print-script`` writes for a rule (no torch here).

A rule's ``script(hyperparameters) -> Snippet`` (see ``catalog.Snippet``) builds its lines
from these: the hyperparameters as Python literals, and the steps many rules share.
"""

from __future__ import annotations

import json
from typing import Any


def literal(value: object) -> str:
    """``value`` as Python source that reads back as the same number (repr keeps every bit)."""
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return json.dumps(value)  # double quotes, as ruff format writes strings
    return repr(value)


def settings(h: dict[str, Any], *names: str) -> tuple[str, ...]:
    """``name = value`` for each of ``names``; ``betas``/``etas`` as their two parts."""
    lines = []
    for name in names:
        if name == "betas":
            lines.append(f"beta1, beta2 = {literal(h['betas'][0])}, {literal(h['betas'][1])}")
        else:
            lines.append(f"{name} = {literal(h[name])}")
    return tuple(lines)


def maximize(h: dict[str, Any]) -> list[str]:
    return ["grad = -grad  # maximize: climb the loss"] if h.get("maximize") else []


def weight_decay(h: dict[str, Any], decoupled: bool = False) -> list[str]:
    """Weight decay: added to the gradient (L2), or ``decoupled``, shrinking θ itself."""
    if h.get("weight_decay", 0) == 0:
        return []
    if decoupled:
        return ["p.mul_(1 - lr * weight_decay)  # decoupled weight decay"]
    return ["grad = grad.add(p, alpha=weight_decay)"]


def start(*zeros: str, **more: str) -> str:
    """A parameter ``p``'s state before its first step: ``step`` 0, then the tensors
    ``zeros`` (zero, shaped as ``p``), then ``more`` (key = expression)."""
    entries = ['"step": 0', *(f'"{k}": torch.zeros_like(p)' for k in zeros)]
    entries += [f'"{k}": {v}' for k, v in more.items()]
    return "{" + ", ".join(entries) + "}"


def used(h: dict[str, Any], *names: str) -> tuple[str, ...]:
    """The ``names`` whose lines a rule writes: weight_decay only when it is not 0."""
    return tuple(n for n in names if n != "weight_decay" or h.get("weight_decay", 0) != 0)
