"""Measuring a step: the tensors of a step turned into records (``gradcli.records``).

All numbers of a step leave the device in one copy. A sparse gradient
(``nn.Embedding(sparse=True)``) or state tensor is recorded as its dense form: the zeros it
leaves out are part of the parameter's gradient. ``measure()`` is the plain version (read it
first); ``Recorder`` is the fast one, equal to it bit for bit.

A tensor of more than ``SMALL`` elements is recorded as four statistics, the same bits
whichever code computes them (the script of ``--print-script`` too): its L2 norm, mean, min
and max. Up to ``SEGMENT_MAX`` elements they are taken in float64, the sums added one
element after another in order (``torch.segment_reduce`` on the CPU; torch's own ``sum``
adds in blocks, and its last digit can differ); past ``SEGMENT_MAX``, in the tensor's own
dtype (float32 or float64; a half type in float32) with ``(t * t).sum()``, ``t.sum()`` and
``aminmax``. The square root and the division by the count are done on the host, by
Python (torch's vectorised ``sqrt`` is not always correctly rounded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
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
        flat = t.detach().reshape(-1)
        if not (stats if stats is not None else flat.numel() > SMALL):
            self.pieces.append(flat.to(torch.float64))
        elif flat.numel() > SEGMENT_MAX:
            self.pieces.append(large_sums(flat).double())
        else:
            lengths = torch.tensor([flat.numel()], device=flat.device)
            self.pieces.append(segment_sums(flat.to(torch.float64), lengths).reshape(-1))

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
        return self.take(count) if count <= SMALL else finish(*self.take(4), count=count)


SEGMENT_MAX = 4096  # up to this size, statistics go through one segment_reduce for all


def segment_sums(flat: Tensor, lengths: Tensor) -> Tensor:
    """For each segment of ``flat`` (float64; ``lengths`` long): the sum of its squares, its
    sum, min and max, as a row. ``segment_reduce`` on the CPU adds a segment's elements
    one after another, in order, and keeps a NaN for min and max (as a plain loop that
    tests ``x != x`` first does). ``unsafe=True`` skips checking ``lengths``: the check reads
    its verdict on the host, waiting for a GPU each call (0.135 ms of CPU time on an H100,
    torch 2.11, profiled; about 10 µs on the CPU)."""
    reduce = partial(torch.segment_reduce, lengths=lengths, unsafe=True)
    return torch.stack(
        [reduce(flat * flat, "sum"), reduce(flat, "sum"), reduce(flat, "min"), reduce(flat, "max")],
        dim=1,
    )


def working(t: Tensor) -> Tensor:
    """A large tensor in the dtype its statistics are taken in: its own, or float32 for a
    half type (float16, bfloat16) and integers."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def large_sums(flat: Tensor, square: Tensor | None = None) -> Tensor:
    """A large tensor's sum of squares, sum, min and max, in its working dtype (``square``:
    a buffer for the squares, reused)."""
    flat = working(flat)
    low, high = torch.aminmax(flat)
    squares = flat * flat if square is None else torch.mul(flat, flat, out=square)
    return torch.stack([squares.sum(), flat.sum(), low, high])


def finish(square: float, total: float, low: float, high: float, *, count: int) -> Stats:
    """The statistics from the sums: the norm (√ of the sum of squares) and the mean (the sum
    over the count), done here, by Python, correctly rounded."""
    return Stats(math.sqrt(square), total / count, low, high)


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


def update_of(param: Tensor, before: Tensor) -> Tensor:
    """What a step changed in a parameter of more than ``SMALL`` elements: in float64 up to
    ``SEGMENT_MAX`` elements, past it in the parameter's working dtype (as its statistics)."""
    if param.numel() > SEGMENT_MAX:
        return working(param.detach()) - working(before)
    return param.detach().double() - before.double()


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
                copy.add(update_of(param, before[i]), stats=True)
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
        self._updates = {i: torch.empty_like(working(params[i].detach())) for i in self.big}
        self._squares = {i: self._updates[i].new_empty(self.numels[i]) for i in self.big}

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
        *,
        lr: float | None = None,
        evaluations: int | None = None,
    ) -> StepRecord:
        """The record of ``step``: the loss and gradients before the update, the parameters
        after it, and the update between them (and the step's ``lr`` and ``evaluations``,
        put in here: ``dataclasses.replace`` of a record cost 14 µs a printed step). A step
        with a missing or a sparse gradient takes the general path, ``measure()``."""
        if (snapshot.flat is None and self.seg) or any(g is None or g.is_sparse for g in grads):
            general = measure(
                step,
                self.names,
                self.params,
                loss=loss,
                grads=grads,
                before=self.unpack(snapshot),
                states=states,
            )
            return replace(general, lr=lr, evaluations=evaluations)
        before = snapshot.big

        large = {i: self.params[i].detach() for i in self.big}
        pieces = [loss.detach().double().reshape(1)]
        if self.seg:
            after = torch.cat(self._flat_small()).double()
            grad = torch.cat([grads[i].reshape(-1) for i in self.seg]).double()  # type: ignore[union-attr]
            triple = torch.cat([after, grad, after - snapshot.flat.double()])  # type: ignore[union-attr]
            pieces.append(segment_sums(triple, self.lengths).reshape(-1))
            pieces.append(triple.index_select(0, self.small_index))
        sums = []
        for i in self.big:
            after = working(large[i])
            update = torch.sub(after, working(before[i]), out=self._updates[i])
            for t in (after, grads[i], update):
                sums.append(large_sums(t.reshape(-1), self._squares[i]))  # type: ignore[union-attr]
        if sums:  # one cat, one conversion (when the parameters share a dtype)
            dtypes = {t.dtype for t in sums}
            pieces.append(
                torch.cat(sums if len(dtypes) == 1 else [t.double() for t in sums]).double()
            )
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
                    values[kind][i] = finish(*numbers[at : at + 4], count=self.numels[i])
                at += 4
        at = small_at
        for i in self.big:
            for kind in range(3):
                values[kind][i] = finish(*numbers[at : at + 4], count=self.numels[i])
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
            lr=lr,
            evaluations=evaluations,
        )
