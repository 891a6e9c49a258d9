"""Measuring a step: the tensors of a step turned into records (``gradcli.records``).

All numbers of a step leave the device in one copy. A sparse gradient
(``nn.Embedding(sparse=True)``) or state tensor is recorded as its dense form: the zeros it
leaves out are part of the parameter's gradient. ``measure()`` is the plain version (read it
first); ``Recorder`` is the fast one, equal to it bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor

from gradcli.records import SMALL, ParamRecord, Stats, StepRecord, Values


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

    def take_values(self, count: int) -> Values:
        return self.take(count) if count <= SMALL else Stats(*self.take(4))


def dense(t: Tensor) -> Tensor:
    """``t`` itself, or its dense form if it is sparse."""
    return t.to_dense() if t.is_sparse else t


def state_tensor(value: object) -> Tensor:
    """A state value as one tensor, for the record: a tensor as it is (dense), a number as
    one element, a list (LBFGS's history) as its items' elements one after another (None
    items left out)."""
    if isinstance(value, Tensor):
        return dense(value)
    if isinstance(value, list | tuple):
        items = [state_tensor(v).detach().reshape(-1) for v in value if v is not None]
        if not items:
            return torch.zeros(0, dtype=torch.float64)
        return torch.cat([item.to(items[0].device, torch.float64) for item in items])
    return torch.tensor([float(value)], dtype=torch.float64)  # type: ignore[arg-type]


def _state_tensors(states: list[dict[str, Any]]) -> list[dict[str, Tensor]]:
    return [{key: state_tensor(value) for key, value in state.items()} for state in states]


def values_of(t: Tensor) -> Values:
    """One tensor's elements (small) or statistics (large), with a copy of its own."""
    copy = HostCopy()
    copy.add(t)
    return copy.fetch().take_values(t.numel())


def measure(
    step: int,
    names: list[str],
    params: list[Tensor],
    *,
    loss: Tensor | None = None,
    grads: list[Tensor | None] | None = None,
    before: list[Tensor] | None = None,
    states: list[dict[str, Any]] | None = None,
) -> StepRecord:
    """The record of ``step`` from the parameters after it and, for t ≥ 1, the loss, the
    gradients and the parameters before the update (and the optimizer state after it)."""
    states = None if states is None else _state_tensors(states)
    copy = HostCopy()
    if loss is not None:
        copy.add(loss)
    for i, param in enumerate(params):
        copy.add(param)
        if before is not None and grads is not None:
            grad = grads[i]
            if grad is not None:
                copy.add(dense(grad))
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
        value = reader.take_values(count)
        grad_values: Values | None = None
        update: Values | None = None
        if before is not None and grads is not None:
            grad_values = reader.take_values(count) if grads[i] is not None else None
            update = reader.take_values(count)
            if isinstance(value, tuple) and isinstance(update, tuple):
                update = tuple(a - b for a, b in zip(value, update, strict=True))
        state = None
        if states is not None:
            state = {key: reader.take_values(t.numel()) for key, t in states[i].items()}
        records.append(ParamRecord(names[i], tuple(param.shape), value, grad_values, update, state))
    return StepRecord(step, step_loss, tuple(records))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Parameters before an update: the segment group flat, larger ones by index."""

    flat: Tensor | None
    big: dict[int, Tensor]


SEGMENT_MAX = 4096  # up to this size, statistics go through one segment_reduce for all


class Recorder:
    """Measures the steps of one fixed list of parameters with few kernel launches.

    Tensors of up to ``SEGMENT_MAX`` elements (most of a small model) are concatenated into
    one float64 buffer — values, gradients and updates — and reduced per tensor with
    ``torch.segment_reduce``: a constant number of kernels however many there are. Larger
    tensors get three reductions each (in their own dtype): ``dot(t, t)``, ``sum`` and
    ``aminmax``; the norm (√dot) and the mean (sum / n) are finished on the host. Their
    copies before the update and the updates themselves live in buffers made once, so a step
    allocates no large memory. Everything the record needs leaves the device in one copy.
    """

    def __init__(self, names: list[str], params: list[Tensor]) -> None:
        self.names = names
        self.params = params
        self.shapes = [tuple(p.shape) for p in params]
        self.numels = [p.numel() for p in params]
        device = params[0].device if params else torch.device("cpu")
        self.uniform = all(p.device == device for p in params)
        self.seg = [i for i, n in enumerate(self.numels) if n <= SEGMENT_MAX]
        self.big = [i for i, n in enumerate(self.numels) if n > SEGMENT_MAX]
        seg_numels = [self.numels[i] for i in self.seg]
        offsets = [0]
        for numel in seg_numels * 3:  # value, grad and update segments
            offsets.append(offsets[-1] + numel)
        self.lengths = torch.tensor(seg_numels * 3, device=device)
        count = len(self.seg)
        small = [
            position
            for kind in range(3)
            for j, numel in enumerate(seg_numels)
            if numel <= SMALL
            for position in range(offsets[kind * count + j], offsets[kind * count + j + 1])
        ]
        self.small_index = torch.tensor(small, dtype=torch.long, device=device)
        # the small parameters flat, as views made once (see _flat_small)
        self._flat: list[Tensor] = []
        self._addresses: list[int] = []
        # the large parameters before the update, and their updates, made once
        self._before = {i: torch.empty_like(params[i].detach()) for i in self.big}
        self._updates = {i: torch.empty_like(params[i].detach()) for i in self.big}

    def _flat_small(self) -> list[Tensor]:
        """The small parameters, each flat: views made once, which the updates (in place)
        keep current, made again when a parameter's storage is no longer the one they view
        (``param.data = ...``); a parameter that is not contiguous, whose flat form is a
        copy, is read afresh every time. Making them every step took 12 reshapes and
        detaches, about 8 µs of a printed step."""
        small = [self.params[i] for i in self.seg]
        addresses = [p.data_ptr() if p.is_contiguous() else -1 for p in small]
        if addresses != self._addresses or -1 in addresses:
            self._flat = [p.detach().reshape(-1) for p in small]
            self._addresses = addresses
        return self._flat

    def snapshot(self) -> Snapshot:
        """The parameters before the update: the small ones in one buffer, the large ones in
        buffers of their own (overwritten by the next snapshot)."""
        flat = torch.cat(self._flat_small()) if self.seg and self.uniform else None
        if flat is None and self.seg:  # parameters on several devices: the general path
            return Snapshot(None, {i: p.detach().clone() for i, p in enumerate(self.params)})
        big = {i: self._before[i].copy_(self.params[i].detach()) for i in self.big}
        return Snapshot(flat, big)

    def unpack(self, snapshot: Snapshot) -> list[Tensor]:
        """The snapshot as one tensor per parameter."""
        tensors = dict(snapshot.big)
        if snapshot.flat is not None:
            pieces = snapshot.flat.split([self.numels[i] for i in self.seg])
            for i, piece in zip(self.seg, pieces, strict=True):
                tensors[i] = piece.view(self.shapes[i])
        return [tensors[i] for i in range(len(self.params))]

    def measure(
        self,
        step: int,
        loss: Tensor,
        grads: list[Tensor | None],
        snapshot: Snapshot,
        states: list[dict[str, Any]] | None = None,
    ) -> StepRecord:
        """The record of ``step``: the loss and gradients before the update, the parameters
        after it, and the update between them. A step with a missing or a sparse gradient
        takes the general path, ``measure()``."""
        if (snapshot.flat is None and self.seg) or any(g is None or g.is_sparse for g in grads):
            return measure(
                step,
                self.names,
                self.params,
                loss=loss,
                grads=grads,
                before=self.unpack(snapshot),
                states=states,
            )
        before = snapshot.big

        large = {i: self.params[i].detach() for i in self.big}
        pieces = [loss.detach().double().reshape(1)]
        if self.seg:
            after = torch.cat(self._flat_small()).double()
            grad = torch.cat([grads[i].reshape(-1) for i in self.seg]).double()  # type: ignore[union-attr]
            triple = torch.cat([after, grad, after - snapshot.flat.double()])  # type: ignore[union-attr]
            # unsafe=True skips checking the lengths (built above from the parameters'
            # sizes). The check reads its verdict on the host, waiting for the GPU each
            # call: each of these calls took 0.135 ms of CPU time on an H100 (torch 2.11,
            # profiled); on the CPU the check costs about 10 µs a call.
            reduce = partial(torch.segment_reduce, lengths=self.lengths, unsafe=True)
            pieces.append(
                torch.stack(
                    [
                        reduce(triple * triple, "sum").sqrt(),
                        reduce(triple, "mean"),
                        reduce(triple, "min"),
                        reduce(triple, "max"),
                    ],
                    dim=1,
                ).reshape(-1)
            )
            pieces.append(triple.index_select(0, self.small_index))
        scalars: list[Tensor] = []
        for i in self.big:
            update = torch.sub(large[i], before[i], out=self._updates[i])
            for t in (large[i], grads[i], update):
                flat = t.reshape(-1)  # type: ignore[union-attr]
                low, high = torch.aminmax(flat)
                scalars += [torch.dot(flat, flat), flat.sum(), low, high]
        if scalars:  # one stack for all of them (they share the parameters' dtype)
            pieces.append(torch.stack([s.to(scalars[0].dtype) for s in scalars]).double())
        numbers = torch.cat(pieces).tolist()  # the one device-to-host copy of the step

        values: list[list[Values | None]] = [[None] * len(self.params) for _ in range(3)]
        at = 1
        small_at = 1 + 12 * len(self.seg)
        for kind in range(3):
            for i in self.seg:
                if self.numels[i] <= SMALL:
                    values[kind][i] = tuple(numbers[small_at : small_at + self.numels[i]])
                    small_at += self.numels[i]
                else:
                    values[kind][i] = Stats(*numbers[at : at + 4])
                at += 4
        at = small_at
        for i in self.big:
            for kind in range(3):
                square, total, low, high = numbers[at : at + 4]
                values[kind][i] = Stats(math.sqrt(square), total / self.numels[i], low, high)
                at += 4

        state_values = None
        if states is not None:
            states = _state_tensors(states)
            copy = HostCopy()
            for state in states:
                for value in state.values():
                    copy.add(value)
            reader = copy.fetch()
            state_values = [
                {key: reader.take_values(t.numel()) for key, t in state.items()} for state in states
            ]
        return StepRecord(
            step,
            numbers[0],
            tuple(
                ParamRecord(
                    self.names[i],
                    self.shapes[i],
                    values[0][i],
                    values[1][i],  # type: ignore[arg-type]
                    values[2][i],
                    None if state_values is None else state_values[i],
                )
                for i in range(len(self.params))
            ),
        )
