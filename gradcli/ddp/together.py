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

from typing import Any

import torch
from torch import Tensor, nn

from gradcli.data.dataset import DataSet
from gradcli.data.feed import Feed, Shard
from gradcli.measure import dense


class AllRanks(Feed):
    """The ``world`` ranks' feeds as one: batch k is every rank's batch k, joined."""

    def __init__(self, data: DataSet, world: int, **options: Any) -> None:
        super().__init__(data, **options)  # (its own loader is not drawn from)
        self.ranks = [Feed(data, **options, shard=Shard(rank, world)) for rank in range(world)]
        self.batches = self.ranks[0].batches
        self.batch = self.batches  # the first next() starts epoch 1

    def next(self) -> None:
        if self.batch == self.batches:
            self.epoch, self.batch = self.epoch + 1, 0
            self._sums = torch.zeros_like(self._sums)
        for feed in self.ranks:
            feed.next()
        self.batch += 1
        self.x_batch = torch.cat([feed.x_batch for feed in self.ranks])  # type: ignore[misc]
        self.y_batch = torch.cat([feed.y_batch for feed in self.ranks])  # type: ignore[misc]
        self._counted = False


class JoinedGradient:
    """Call it after each step's gradients are averaged (before clipping): the largest
    difference so far between them and the gradient of ``joined``'s batch, which it takes
    in step with the ranks."""

    def __init__(self, model: nn.Module, joined: AllRanks) -> None:
        self.model, self.joined = model, joined
        self.params = list(model.parameters())
        self.gap: Tensor | None = None  # (on the device: no sync a step)
        self.steps = 0

    def __call__(self) -> None:
        self.joined.next()
        loss = self.joined.loss(self.model)
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        gap = torch.stack(
            [
                (_dense(p.grad, p) - _dense(g, p)).abs().max().double()
                for p, g in zip(self.params, grads, strict=True)
                if p.numel()
            ]
        ).max()
        self.gap = gap if self.gap is None else torch.maximum(self.gap, gap)
        self.steps += 1

    def largest(self) -> float:
        """The largest difference so far (0 before any step)."""
        return 0.0 if self.gap is None else float(self.gap)


def _dense(grad: Tensor | None, param: Tensor) -> Tensor:
    return torch.zeros_like(param) if grad is None else dense(grad.detach())
