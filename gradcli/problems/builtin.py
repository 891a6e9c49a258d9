"""The built-in problems with data of their own: seed, linear, mlp, embedding.

Each problem owns its data as buffers, so moving it to a device or dtype moves everything.
The data set is fixed (its own generator, seeded with a constant); ``--seed`` only changes
the initial parameters. Data is made in float64 on the CPU and then converted, so a run
sees the same numbers on every device. (``--print-script`` writes these classes from their
source here: see ``gradcli/script/problems.py``.)
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gradcli.problems.base import DataProblem, Problem

_DATA_SEED = 20240601


class Seed(Problem):
    """``w = [1, 2, 3]``, ``loss = mean(w)``: every gradient element is exactly 1/3."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))

    def forward(self) -> Tensor:
        return self.w.mean()


class LinearRegression(DataProblem):
    """``nn.Linear(3, 1)`` fitted to y = 2·x₀ − 3·x₁ + 0.5·x₂ + 1 + noise (64 samples), MSE."""

    reference_label = "least squares"
    data_buffers: ClassVar[tuple[str, ...]] = ("x", "y")
    true_weight = (2.0, -3.0, 0.5)
    true_bias = 1.0

    def __init__(self, samples: int = 64, noise: float = 0.1) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(_DATA_SEED)
        x = torch.randn(samples, 3, generator=gen, dtype=torch.float64)
        w = torch.tensor(self.true_weight, dtype=torch.float64)
        y = (
            x @ w
            + self.true_bias
            + noise * torch.randn(samples, generator=gen, dtype=torch.float64)
        )
        self.register_buffer("x", x)
        self.register_buffer("y", y.unsqueeze(1))
        self.linear = nn.Linear(3, 1)

    def forward(self) -> Tensor:
        return F.mse_loss(self.linear(self.x), self.y)

    def reference(self) -> dict[str, Tensor]:
        """The least-squares solution of [x, 1] · [w; b] = y, in float64."""
        x = self.x.double().cpu()
        design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        solution = torch.linalg.lstsq(design, self.y.double().cpu()).solution.squeeze(1)
        return {"linear.weight": solution[:3].reshape(1, 3), "linear.bias": solution[3:]}


def two_moons(samples: int, noise: float, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two interleaved half circles in 2-D, labels 0 and 1 (like scikit-learn's make_moons)."""
    half = samples // 2
    angle = torch.linspace(0, math.pi, half, dtype=torch.float64)
    upper = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    lower = torch.stack([1 - torch.cos(angle), 0.5 - torch.sin(angle)], dim=1)
    points = torch.cat([upper, lower]) + noise * torch.randn(
        2 * half, 2, generator=gen, dtype=torch.float64
    )
    labels = torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(half, dtype=torch.long)])
    return points, labels


class MLP(DataProblem):
    """A 2-16-16-2 tanh MLP classifying two moons (128 points), cross-entropy loss."""

    data_buffers: ClassVar[tuple[str, ...]] = ("x", "labels")

    def __init__(self, samples: int = 128, noise: float = 0.1) -> None:
        super().__init__()
        points, labels = two_moons(samples, noise, torch.Generator().manual_seed(_DATA_SEED))
        self.register_buffer("x", points)
        self.register_buffer("labels", labels)
        self.net = nn.Sequential(
            nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)
        )

    def forward(self) -> Tensor:
        return F.cross_entropy(self.net(self.x), self.labels)

    @torch.no_grad()
    def metrics(self) -> dict[str, float]:
        predicted = self.net(self.x).argmax(dim=1)
        return {"accuracy": (predicted == self.labels).double().mean().item()}


class Embedding(Problem):
    """``nn.Embedding(10, 3, sparse=True)`` fitted to target vectors, MSE loss.

    A fixed batch of 16 lookups: rows 0–7 twice each, in a shuffled order; rows 8 and 9
    never. Each lookup has its own target: its row's centre (drawn once) plus noise 0.1, so
    the least-squares optimum puts each looked-up row at the mean of its two targets. The
    gradient is sparse (``torch.sparse_coo_tensor``, one entry per lookup, duplicate rows
    not yet summed), so only the optimizers whose torch implementation takes sparse
    gradients run here: sgd, adagrad (both without weight decay), lbfgs and sparseadam.
    Rows 8 and 9 never enter the loss: any value is optimal for them, and every one of those
    optimizers leaves them where they started.
    """

    reference_label = "least squares"
    rows, dim, looked_up = 10, 3, 8

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(_DATA_SEED)
        lookups = torch.arange(self.looked_up).repeat(2)
        indices = lookups[torch.randperm(len(lookups), generator=gen)]
        centres = torch.randn(self.looked_up, self.dim, generator=gen, dtype=torch.float64)
        noise = torch.randn(len(indices), self.dim, generator=gen, dtype=torch.float64)
        self.register_buffer("indices", indices)
        self.register_buffer("targets", centres[indices] + 0.1 * noise)
        self.embedding = nn.Embedding(self.rows, self.dim, sparse=True)

    def forward(self) -> Tensor:
        return F.mse_loss(self.embedding(self.indices), self.targets)

    def reference(self) -> dict[str, Tensor]:
        """Each looked-up row at the mean of its targets; the other rows as they are (the
        loss does not depend on them)."""
        optimum = self.embedding.weight.detach().double().cpu().clone()
        indices, targets = self.indices.cpu(), self.targets.double().cpu()
        for row in range(self.looked_up):
            optimum[row] = targets[indices == row].mean(dim=0)
        return {"embedding.weight": optimum}
