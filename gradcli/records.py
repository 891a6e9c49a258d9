"""Step records: what one step did to every parameter, computed once and rendered many ways.

A tensor of at most ``SMALL`` elements is recorded element by element; a larger one as
statistics (L2 norm, mean, min, max). All numbers of a step leave the device in one copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

SMALL = 8


@dataclass(frozen=True, slots=True)
class Stats:
    norm: float
    mean: float
    min: float
    max: float


Values = tuple[float, ...] | Stats


@dataclass(frozen=True, slots=True)
class ParamRecord:
    """One parameter at one step: ``value`` after the update, the ``grad`` that drove it,
    and the applied ``update`` (value after − value before). At step 0, grad and update
    are None."""

    name: str
    shape: tuple[int, ...]
    value: Values
    grad: Values | None
    update: Values | None


@dataclass(frozen=True, slots=True)
class StepRecord:
    """Step t ≥ 1: ``loss`` at the parameters before the update; step 0: initial parameters,
    ``loss`` None."""

    step: int
    loss: float | None
    params: tuple[ParamRecord, ...]


@dataclass(frozen=True, slots=True)
class Reference:
    """A parameter's final value beside a known optimum, and the largest gap between them."""

    learned: Values
    target: Values
    max_abs_diff: float


@dataclass(frozen=True, slots=True)
class Summary:
    """The run as a whole: loss at the initial and at the final parameters, and what the
    problem knows about its optimum, by parameter name."""

    steps: int
    first_loss: float
    final_loss: float
    reference: dict[str, Reference] = field(default_factory=dict)
    reference_label: str = "optimum"
    metrics: dict[str, float] = field(default_factory=dict)


def _stats(t: Tensor) -> Tensor:
    flat = t.detach().reshape(-1).to(torch.float64)
    low, high = torch.aminmax(flat)
    return torch.stack([torch.linalg.vector_norm(flat), flat.mean(), low, high])


def _flat(t: Tensor) -> Tensor:
    return t.detach().reshape(-1).to(torch.float64)


class _Reader:
    """Walks the host copy of a step's numbers in the order they were packed."""

    def __init__(self, numbers: list[float]) -> None:
        self.numbers = numbers
        self.at = 0

    def take(self, count: int) -> tuple[float, ...]:
        out = tuple(self.numbers[self.at : self.at + count])
        self.at += count
        return out

    def values(self, count: int) -> Values:
        return self.take(count) if count <= SMALL else Stats(*self.take(4))


def values_of(t: Tensor) -> Values:
    """One tensor's elements (small) or statistics (large), with a copy of its own."""
    return _Reader((_flat(t) if t.numel() <= SMALL else _stats(t)).tolist()).values(t.numel())


def measure(
    step: int,
    names: list[str],
    params: list[Tensor],
    *,
    loss: Tensor | None = None,
    grads: list[Tensor | None] | None = None,
    before: list[Tensor] | None = None,
) -> StepRecord:
    """The record of ``step`` from the parameters after it and, for t ≥ 1, the loss, the
    gradients and the parameters before the update."""
    pieces = [] if loss is None else [loss.detach().reshape(1).to(torch.float64)]
    for i, param in enumerate(params):
        small = param.numel() <= SMALL
        pieces.append(_flat(param) if small else _stats(param))
        if before is None or grads is None:
            continue
        grad = grads[i]
        if grad is not None:
            pieces.append(_flat(grad) if small else _stats(grad))
        # Small tensors ship the old values and subtract on the host (exact in float64).
        pieces.append(_flat(before[i]) if small else _stats(_flat(param) - _flat(before[i])))
    reader = _Reader(torch.cat(pieces).tolist())  # the one device-to-host copy of the step
    step_loss = None if loss is None else reader.take(1)[0]
    records = []
    for i, param in enumerate(params):
        count = param.numel()
        value = reader.values(count)
        grad_values: Values | None = None
        update: Values | None = None
        if before is not None and grads is not None:
            grad_values = reader.values(count) if grads[i] is not None else None
            update = reader.values(count)
            if isinstance(value, tuple) and isinstance(update, tuple):
                update = tuple(a - b for a, b in zip(value, update, strict=True))
        records.append(ParamRecord(names[i], tuple(param.shape), value, grad_values, update))
    return StepRecord(step, step_loss, tuple(records))
