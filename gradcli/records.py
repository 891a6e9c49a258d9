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
    the applied ``update`` (value after − value before) and, when asked for, the optimizer
    ``state`` after the update under torch's key names. At step 0, grad and update are
    None."""

    name: str
    shape: tuple[int, ...]
    value: Values
    grad: Values | None
    update: Values | None
    state: dict[str, Values] | None = None


@dataclass(frozen=True, slots=True)
class StepRecord:
    """Step t ≥ 1: ``loss`` at the parameters before the update; step 0: initial parameters,
    ``loss`` None. ``explain``: the update of each parameter's first element, in numbers."""

    step: int
    loss: float | None
    params: tuple[ParamRecord, ...]
    explain: tuple[str, ...] = ()


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


class HostCopy:
    """Numbers to bring to the host, gathered so that each device is copied from once."""

    def __init__(self) -> None:
        self.pieces: list[Tensor] = []

    def add(self, t: Tensor, *, stats: bool | None = None) -> None:
        """Queue ``t``'s elements, or its statistics when it is large (or ``stats``)."""
        flat = t.detach().reshape(-1).to(torch.float64)
        if stats if stats is not None else flat.numel() > SMALL:
            low, high = torch.aminmax(flat)
            flat = torch.stack([torch.linalg.vector_norm(flat), flat.mean(), low, high])
        self.pieces.append(flat)

    def fetch(self) -> _Reader:
        devices = {p.device for p in self.pieces}
        if len(devices) <= 1:
            return _Reader(torch.cat(self.pieces).tolist() if self.pieces else [])
        # e.g. torch.optim's "step" lives on the CPU beside CUDA parameters
        by_device = {
            d: torch.cat([p for p in self.pieces if p.device == d]).tolist() for d in devices
        }
        at = dict.fromkeys(devices, 0)
        numbers: list[float] = []
        for piece in self.pieces:
            start = at[piece.device]
            numbers += by_device[piece.device][start : start + piece.numel()]
            at[piece.device] = start + piece.numel()
        return _Reader(numbers)


class _Reader:
    """Walks the host copy in the order the numbers were queued."""

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
    copy = HostCopy()
    copy.add(t)
    return copy.fetch().values(t.numel())


def measure(
    step: int,
    names: list[str],
    params: list[Tensor],
    *,
    loss: Tensor | None = None,
    grads: list[Tensor | None] | None = None,
    before: list[Tensor] | None = None,
    states: list[dict[str, Tensor]] | None = None,
) -> StepRecord:
    """The record of ``step`` from the parameters after it and, for t ≥ 1, the loss, the
    gradients and the parameters before the update (and the optimizer state after it)."""
    copy = HostCopy()
    if loss is not None:
        copy.add(loss)
    for i, param in enumerate(params):
        copy.add(param)
        if before is not None and grads is not None:
            grad = grads[i]
            if grad is not None:
                copy.add(grad)
            if param.numel() <= SMALL:  # old values; subtracted on the host, exactly
                copy.add(before[i])
            else:
                copy.add(param.detach().double() - before[i].double(), stats=True)
        if states is not None:
            for value in states[i].values():
                copy.add(value)
    reader = copy.fetch()  # the one device-to-host copy of the step
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
        state = None
        if states is not None:
            state = {key: reader.values(t.numel()) for key, t in states[i].items()}
        records.append(ParamRecord(names[i], tuple(param.shape), value, grad_values, update, state))
    return StepRecord(step, step_loss, tuple(records))
