"""Every rank's batches in one process: what ``gradcli ddp --data`` is checked against.

Under data parallelism rank r takes its batch k from its ``DistributedSampler``; each rank's
batch k has the same size (the sampler deals equal shares), so the average of the ranks'
gradients is the gradient of the mean loss over the ranks' batches k joined. ``AllRanks`` is
a ``Feed`` whose batch k is exactly that join, in rank order, and ``JoinedGradient`` checks
the claim at every step, on rank 0: the averaged gradient against one process's gradient of
the joined batch at the same parameters.

The check is made step by step, not on the parameters at the end as for a problem that owns
its data: over many mini-batch steps an adaptive optimizer (Adam at lr 0.01 on digits) turns
rounding, which the order of a reduction changes, into differences of 1e-3 between two
equally right single-process runs; a gradient at given parameters has no such drift.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from gradcli.data.dataset import DataSet
from gradcli.data.feed import Feed, Shard
from gradcli.measure import dense
from gradcli.train.accumulation import _as_it_is


class AllRanks(Feed):
    """The ``world`` ranks' feeds as one: batch k is every rank's batch k, joined (with
    ``--accumulate K``, each of the update's K micro-batches: every rank's, joined)."""

    def __init__(self, data: DataSet, world: int, **options: Any) -> None:
        # (its own loader is not drawn from, and not cut into updates: the ranks' are)
        super().__init__(data, **{**options, "accumulate": 1})
        self.ranks = [Feed(data, **options, shard=Shard(rank, world)) for rank in range(world)]
        self.accumulate = self.ranks[0].accumulate
        self.batches = self.ranks[0].batches
        self.batch = self.batches  # the first next() starts epoch 1

    def next(self) -> None:
        if self.batch == self.batches:
            self.epoch, self.batch = self.epoch + 1, 0
            self._sums = torch.zeros_like(self._sums)
        for feed in self.ranks:
            feed.next()
        self.batch += 1
        self.window = [
            (
                torch.cat([feed.window[k][0] for feed in self.ranks]),
                torch.cat([feed.window[k][1] for feed in self.ranks]),
            )
            for k in range(self.accumulate)
        ]
        self.select(0)


class JoinedGradient:
    """Call it after each step's gradients are averaged (before unscaling and clipping): the
    largest difference so far between them and the gradient of ``joined``'s batch, which it
    takes in step with the ranks — with --accumulate K, of the mean of the K joined
    micro-batches' losses, as the ranks' accumulated gradients are.

    With --amp (``autocast``, and ``scale``: loss·S for fp16, as the ranks' backward) the
    difference is relative, to the joined gradient's largest element: autocast rounds a
    rank's products and gradients to 8 or 11 significant bits, each relative to what it
    rounds, so a gap is a fraction of the gradient's size (and S·g against S·g is the same
    fraction of either); a step whose gradients are not finite (fp16: an overflow, which
    every rank skips) is not compared, and counted in ``skipped``. Without --amp the
    difference is absolute up to a largest element of 1, relative past it."""

    def __init__(
        self,
        model: nn.Module,
        joined: AllRanks,
        autocast: Callable[[], AbstractContextManager[None]] | None = None,
        scale: Callable[[Tensor], Tensor] = _as_it_is,
    ) -> None:
        self.model, self.joined = model, joined
        self.autocast, self.scale = autocast, scale
        self.params = list(model.parameters())
        self.gap: Tensor | None = None  # (on the device: no sync a step)
        self.steps = 0
        self.skipped = 0

    def __call__(self) -> None:
        self.joined.next()
        k = len(self.joined.window)
        loss: Tensor | None = None
        with self.autocast() if self.autocast is not None else nullcontext():
            for index in range(k):
                self.joined.select(index)
                share = self.joined.loss(self.model, count=False) / k
                loss = share if loss is None else loss + share
        assert loss is not None
        grads = torch.autograd.grad(self.scale(loss), self.params, allow_unused=True)
        pairs = [(_dense(p.grad, p), _dense(g, p)) for p, g in zip(self.params, grads, strict=True)]
        pairs = [(a, b) for a, b in pairs if a.numel()]
        gap = torch.stack([(a - b).abs().max().double() for a, b in pairs]).max()
        self.steps += 1
        if self.autocast is not None and not all(
            bool(a.isfinite().all() and b.isfinite().all()) for a, b in pairs
        ):
            self.skipped += 1
            return
        # relative to the largest element: with --amp past 0; in float32 past 1, absolute
        # below (its sums round relative to their size too: a diverging run's gradient of
        # 1e4 is off by 0.25 while every sum is right to float32's last digits)
        largest = torch.stack([b.abs().max().double() for _, b in pairs]).max()
        floor = 0.0 if self.autocast is not None else 1.0
        gap = gap / torch.where(largest > floor, largest, torch.ones_like(largest))
        self.gap = gap if self.gap is None else torch.maximum(self.gap, gap)

    def largest(self) -> float:
        """The largest difference so far (0 before any step)."""
        return 0.0 if self.gap is None else float(self.gap)


def _dense(grad: Tensor | None, param: Tensor) -> Tensor:
    return torch.zeros_like(param) if grad is None else dense(grad.detach())
