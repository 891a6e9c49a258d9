"""What a problem is: an ``nn.Module`` whose ``forward()`` takes no arguments and returns
the loss. The built-ins derive from these; a user's module needs only ``forward()``."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn


class Problem(nn.Module):
    """Base of the built-ins; a user's module needs only ``forward() -> scalar loss``."""

    reference_label: str = "optimum"

    def reference(self) -> dict[str, Tensor]:
        """Known optimal parameters by name (empty when there is no closed form)."""
        return {}


class DataProblem(Problem):
    """A problem that owns a data set, which ``gradcli ddp`` splits across workers."""

    data_buffers: ClassVar[tuple[str, ...]] = ()

    def samples(self) -> int:
        return len(getattr(self, self.data_buffers[0]))

    def shard(self, rank: int, world: int) -> None:
        """Keep this worker's contiguous share of every data buffer (equal shares)."""
        for name in self.data_buffers:
            setattr(self, name, getattr(self, name).chunk(world)[rank].clone())

    @torch.no_grad()
    def metrics(self) -> dict[str, float]:
        """Extra facts about the current parameters, for the final summary."""
        return {}
