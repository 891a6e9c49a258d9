"""A problem whose best learning rates are known in closed form, for ``gradcli lr-find``.

f_k(x) = L/2 · |x - a_k|², with a new target a_k at each call (16 coordinates, from a fixed
seed). The Hessian is L·I at every step, so plain SGD multiplies x - a by (1 - lr·L): the
loss falls fastest near lr = 1/L and grows for every lr above 2/L. The targets' noise keeps x
from landing exactly on a minimum, as mini-batches do. L = 4: 2/L = 0.5.

    gradcli lr-find -m docs/noisy_quadratic.py:build --start-lr 1e-4 --steps 300
"""

import torch
from torch import nn

CURVATURE = 4.0  # L


class NoisyQuadratic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.x = nn.Parameter(torch.full((16,), 5.0))
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("targets", torch.randn(1000, 16, generator=generator))
        self.calls = 0

    def forward(self) -> torch.Tensor:
        a = self.targets[self.calls % len(self.targets)]
        self.calls += 1
        return 0.5 * CURVATURE * ((self.x - a) ** 2).sum()


def build() -> NoisyQuadratic:
    return NoisyQuadratic()
