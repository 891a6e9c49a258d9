"""A model of ~1M parameters in 20 tensors, for the benchmarks:
``gradcli optim --model benchmarks/bigmlp.py:build``.

Ten 320-wide linear layers (weights and biases: 20 tensors, 1,030,400 parameters) fitting a
fixed random regression target, MSE loss.
"""

from typing import ClassVar

import torch
from torch import nn

WIDTH, LAYERS, SAMPLES = 320, 10, 256


class BigMLP(nn.Module):
    default_lrs: ClassVar[dict[str, float]] = {"sgd": 0.01, "adam": 0.001}

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(1)
        self.register_buffer("x", torch.randn(SAMPLES, WIDTH, generator=gen))
        self.register_buffer("y", torch.randn(SAMPLES, WIDTH, generator=gen))
        layers: list[nn.Module] = []
        for i in range(LAYERS):
            layers.append(nn.Linear(WIDTH, WIDTH))
            if i < LAYERS - 1:
                layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self) -> torch.Tensor:
        return nn.functional.mse_loss(self.net(self.x), self.y)


def build() -> nn.Module:
    return BigMLP()
