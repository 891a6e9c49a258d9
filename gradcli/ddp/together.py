"""Every rank's batches in one process: what ``gradcli ddp --data`` is checked against.

Under data parallelism rank r takes its batch k from its ``DistributedSampler``; each rank's
batch k has the same size (the sampler deals equal shares), so the average of the ranks'
mean losses is the mean loss over the ranks' batches k joined. ``AllRanks`` is a ``Feed``
whose batch k is exactly that join, in rank order: one process training on it follows the
ranks up to rounding.
"""

from __future__ import annotations

from typing import Any

import torch

from gradcli.data.dataset import DataSet
from gradcli.data.feed import Feed, Shard


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
            self._sums.zero_()
        for feed in self.ranks:
            feed.next()
        self.batch += 1
        self.x_batch = torch.cat([feed.x_batch for feed in self.ranks])  # type: ignore[misc]
        self.y_batch = torch.cat([feed.y_batch for feed in self.ranks])  # type: ignore[misc]
        self._counted = False
