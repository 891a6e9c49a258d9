"""What a pitfall returns: the two versions' code and, row by row, what each one did.

``Outcome`` holds the mistake's code and the fix's, what both start from, the rows (one per
step and quantity: a tuple of numbers, or a string such as torch's own error) and the
lesson drawn from them. The pitfalls are in ``lessons.pitfalls`` and ``lessons.evaluation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

Cell = tuple[float, ...] | str


@dataclass(frozen=True)
class Row:
    step: int
    quantity: str
    mistake: Cell
    correct: Cell


@dataclass
class Outcome:
    name: str
    mistake_code: str
    correct_code: str
    labels: tuple[str, str] = ("mistake", "correct")
    rows: list[Row] = field(default_factory=list)
    lesson: str = ""
    setup: str = ""  # what both versions start from: the tensors and the learning rate


def elements(t: Tensor | None) -> Cell:
    return "None" if t is None else tuple(t.detach().reshape(-1).tolist())


def error(e: Exception) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0]}"
