"""Built-in problems: modules whose ``forward()`` takes no arguments and returns the loss.

Each problem owns its data as buffers, so moving it to a device or dtype moves everything.
The data set is fixed (its own generator, seeded with a constant); ``--seed`` only changes
the initial parameters. Data is made in float64 on the CPU and then converted, so a run
sees the same numbers on every device.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_DATA_SEED = 20240601


class Problem(nn.Module):
    """Base of the built-ins; a user's module needs only ``forward() -> scalar loss``."""

    # Learning rates that make the default run visibly converge, by optimizer.
    default_lrs: ClassVar[dict[str, float]] = {}
    reference_label: str = "optimum"

    def reference(self) -> dict[str, Tensor]:
        """Known optimal parameters by name (empty when there is no closed form)."""
        return {}

    @torch.no_grad()
    def metrics(self) -> dict[str, float]:
        """Extra facts about the current parameters, for the final summary."""
        return {}


class Seed(Problem):
    """``w = [1, 2, 3]``, ``loss = mean(w)``: every gradient element is exactly 1/3."""

    default_lrs: ClassVar[dict[str, float]] = {"sgd": 0.001}

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))

    def forward(self) -> Tensor:
        return self.w.mean()


class LinearRegression(Problem):
    """``nn.Linear(3, 1)`` fitted to y = 2·x₀ − 3·x₁ + 0.5·x₂ + 1 + noise (64 samples), MSE."""

    default_lrs: ClassVar[dict[str, float]] = {
        "sgd": 0.1,
        "adam": 0.1,
        "adamw": 0.1,
        "rmsprop": 0.05,
        "adagrad": 0.5,
    }
    reference_label = "least squares"
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


class MLP(Problem):
    """A 2-16-16-2 tanh MLP classifying two moons (128 points), cross-entropy loss."""

    default_lrs: ClassVar[dict[str, float]] = {
        "sgd": 1.0,
        "adam": 0.01,
        "adamw": 0.01,
        "rmsprop": 0.01,
        "adagrad": 0.1,
    }

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


class Rosenbrock(Problem):
    """f(x, y) = (1 − x)² + 100·(y − x²)², from (−2, 2); the minimum is 0 at (1, 1)."""

    default_lrs: ClassVar[dict[str, float]] = {
        "sgd": 0.001,
        "adam": 0.1,
        "adamw": 0.1,
        "rmsprop": 0.01,
        "adagrad": 0.5,
    }
    reference_label = "minimum"

    def __init__(self) -> None:
        super().__init__()
        self.xy = nn.Parameter(torch.tensor([-2.0, 2.0]))

    def forward(self) -> Tensor:
        x, y = self.xy[0], self.xy[1]
        return (1 - x) ** 2 + 100 * (y - x**2) ** 2

    def reference(self) -> dict[str, Tensor]:
        return {"xy": torch.ones(2, dtype=torch.float64)}


BUILTINS: dict[str, type[Problem]] = {
    "linear": LinearRegression,
    "seed": Seed,
    "mlp": MLP,
    "rosenbrock": Rosenbrock,
}


def build(name: str, *, seed: int, dtype: torch.dtype, device: torch.device) -> nn.Module:
    """A fresh problem: parameters drawn from ``seed`` on the CPU, then moved to device/dtype."""
    torch.manual_seed(seed)
    return BUILTINS[name]().to(device=device, dtype=dtype)


# torch.optim's own default learning rates, for problems that name none.
TORCH_DEFAULT_LRS = {"sgd": 0.001, "adam": 0.001, "adamw": 0.001, "rmsprop": 0.01, "adagrad": 0.01}


def default_lr(problem: nn.Module, optimizer: str) -> float:
    """The problem's own learning rate for ``optimizer``, else torch's default."""
    return float(getattr(problem, "default_lrs", {}).get(optimizer, TORCH_DEFAULT_LRS[optimizer]))
