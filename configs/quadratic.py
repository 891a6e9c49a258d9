"""A model of your own for gradcli: `gradcli optim --model configs/quadratic.py:build`.

The factory takes no arguments and returns an nn.Module whose forward() takes no arguments
and returns a scalar loss. The module owns its data (as buffers), like the built-ins.
"""

from typing import ClassVar

import torch
from torch import nn


class Quadratic(nn.Module):
    # Optional: learning rates that suit this problem, by optimizer.
    default_lrs: ClassVar[dict[str, float]] = {"sgd": 0.1, "adam": 0.1}

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("target", torch.tensor([3.0, -1.0]))
        self.x = nn.Parameter(torch.zeros(2))

    def forward(self) -> torch.Tensor:
        return ((self.x - self.target) ** 2).sum()


def build() -> nn.Module:
    return Quadratic()
