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


class Recorder:
    """Measures the steps of one fixed list of parameters with a constant number of kernel
    launches, however many parameters there are: the values, gradients and updates of all
    parameters are concatenated into one float64 buffer, reduced per parameter with
    ``torch.segment_reduce`` (norm, mean, min, max), and everything the record needs leaves
    the device in one copy."""

    def __init__(self, names: list[str], params: list[Tensor]) -> None:
        self.names = names
        self.params = params
        self.shapes = [tuple(p.shape) for p in params]
        self.numels = [p.numel() for p in params]
        device = params[0].device if params else torch.device("cpu")
        self.uniform = all(p.device == device for p in params)
        count = len(params)
        offsets = [0]
        for numel in self.numels * 3:  # value, grad and update segments
            offsets.append(offsets[-1] + numel)
        self.lengths = torch.tensor(self.numels * 3, device=device)
        small = [
            i
            for kind in range(3)
            for p in range(count)
            if self.numels[p] <= SMALL
            for i in range(offsets[kind * count + p], offsets[kind * count + p + 1])
        ]
        self.small_index = torch.tensor(small, dtype=torch.long, device=device)

    def flat(self, tensors: list[Tensor]) -> Tensor:
        """One buffer holding all the tensors' elements, in parameter order."""
        return torch.cat([t.detach().reshape(-1) for t in tensors])

    def unflatten(self, flat: Tensor) -> list[Tensor]:
        return [
            t.view(shape) for t, shape in zip(flat.split(self.numels), self.shapes, strict=True)
        ]

    def measure(
        self,
        step: int,
        loss: Tensor,
        grads: list[Tensor | None],
        grad_flat: Tensor,
        before_flat: Tensor,
        states: list[dict[str, Tensor]] | None = None,
    ) -> StepRecord:
        """The record of ``step``: the loss and gradients before the update, the parameters
        after it, the update between them (computed in float64)."""
        if not self.uniform or any(g is None for g in grads) or not self.params:
            return measure(
                step,
                self.names,
                self.params,
                loss=loss,
                grads=grads,
                before=self.unflatten(before_flat),
                states=states,
            )
        after = self.flat(self.params).double()
        triple = torch.cat([after, grad_flat.double(), after - before_flat.double()])
        stats = torch.stack(
            [
                torch.segment_reduce(triple * triple, "sum", lengths=self.lengths).sqrt(),
                torch.segment_reduce(triple, "mean", lengths=self.lengths),
                torch.segment_reduce(triple, "min", lengths=self.lengths),
                torch.segment_reduce(triple, "max", lengths=self.lengths),
            ],
            dim=1,
        )
        payload = torch.cat(
            [
                loss.detach().double().reshape(1),
                stats.reshape(-1),
                triple.index_select(0, self.small_index),
            ]
        )
        numbers = payload.tolist()  # the one device-to-host copy of the step
        count = len(self.params)
        stats_at = 1
        small_at = 1 + 4 * 3 * count
        kinds: list[list[Values]] = []
        for _ in range(3):
            values: list[Values] = []
            for numel in self.numels:
                if numel <= SMALL:
                    values.append(tuple(numbers[small_at : small_at + numel]))
                    small_at += numel
                else:
                    values.append(Stats(*numbers[stats_at : stats_at + 4]))
                stats_at += 4
            kinds.append(values)
        state_values = None
        if states is not None:
            reader = HostCopy()
            for state in states:
                for value in state.values():
                    reader.add(value)
            fetched = reader.fetch()
            state_values = [
                {key: fetched.values(t.numel()) for key, t in state.items()} for state in states
            ]
        return StepRecord(
            step,
            numbers[0],
            tuple(
                ParamRecord(
                    self.names[i],
                    self.shapes[i],
                    kinds[0][i],
                    kinds[1][i],
                    kinds[2][i],
                    None if state_values is None else state_values[i],
                )
                for i in range(count)
            ),
        )
