"""The 2-D test functions as problems: one point ``xy`` on a surface of ``gradcli.surfaces``.

The point starts where the literature starts it (``--seed`` changes nothing), and the
problem knows the surface's global minima: the summary's reference is the nearest one.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from gradcli.problems.base import Problem
from gradcli.surfaces import SURFACES, Surface, nearest


class Landscape(Problem):
    """``loss = surface(x, y)`` of the point ``xy = (x, y)``."""

    reference_label = "nearest minimum"
    surface: ClassVar[Surface]

    def __init__(self) -> None:
        super().__init__()
        self.xy = nn.Parameter(torch.tensor(self.surface.start))

    def forward(self) -> Tensor:
        x, y = self.xy[0], self.xy[1]
        return self.surface.loss(x, y, torch.cos)  # type: ignore[no-any-return]

    def minima(self) -> list[tuple[float, ...]]:
        """The global minima, as points of all trainable elements in order."""
        return list(self.surface.minima)

    def reference(self) -> dict[str, Tensor]:
        point, _ = nearest(self.xy.detach().double().tolist(), self.minima())
        return {"xy": torch.tensor(point, dtype=torch.float64)}


class Rosenbrock(Landscape):
    """f(x, y) = (1 − x)² + 100·(y − x²)², from (−2, 2); the minimum is 0 at (1, 1)."""

    reference_label = "minimum"
    surface = SURFACES["rosenbrock"]


class Beale(Landscape):
    """Beale's function from (1, 1.5); the minimum is 0 at (3, 0.5)."""

    surface = SURFACES["beale"]


class Himmelblau(Landscape):
    """Himmelblau's function from (0, 0); four minima of loss 0, (3, 2) among them."""

    surface = SURFACES["himmelblau"]


class Rastrigin(Landscape):
    """The Rastrigin function (A = 10) from (−2, 3.5); the minimum is 0 at (0, 0), with a
    local minimum near every point of integer coordinates."""

    surface = SURFACES["rastrigin"]
