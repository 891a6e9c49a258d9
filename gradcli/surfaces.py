"""The 2-D test functions of the optimizer-visualisation literature, with their minima.

Each function is written once, with operators and a ``cos`` that it is given, so the same
line computes a float here (``gradcli plot`` draws the surface without torch) and a tensor
in ``gradcli.problems.landscapes`` (the problem that is trained).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Point = tuple[float, ...]


def rosenbrock(x: Any, y: Any, cos: Callable[[Any], Any] = math.cos) -> Any:
    """(1 − x)² + 100·(y − x²)²: a curved valley, flat along its floor."""
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(x: Any, y: Any, cos: Callable[[Any], Any] = math.cos) -> Any:
    """(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²: flat plateaus, steep rims."""
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def himmelblau(x: Any, y: Any, cos: Callable[[Any], Any] = math.cos) -> Any:
    """(x² + y − 11)² + (x + y² − 7)²: four minima of the same depth."""
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def rastrigin(x: Any, y: Any, cos: Callable[[Any], Any] = math.cos) -> Any:
    """20 + x² − 10·cos(2πx) + y² − 10·cos(2πy): a bowl of regularly spaced local minima."""
    tau = 2 * math.pi
    return 20 + (x**2 - 10 * cos(tau * x)) + (y**2 - 10 * cos(tau * y))


@dataclass(frozen=True, slots=True)
class Surface:
    """A loss of two variables, where the literature starts it, and its global minima."""

    name: str
    formula: str
    loss: Callable[..., Any]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface("rosenbrock", "(1 − x)² + 100·(y − x²)²", rosenbrock, (-2.0, 2.0), ((1.0, 1.0),)),
        Surface(
            "beale",
            "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
            beale,
            (1.0, 1.5),
            ((3.0, 0.5),),
        ),
        Surface(
            "himmelblau",
            "(x² + y − 11)² + (x + y² − 7)²",
            himmelblau,
            (0.0, 0.0),
            (
                (3.0, 2.0),
                (-2.805118086952745, 3.131312518250573),
                (-3.779310253377747, -3.283185991286170),
                (3.584428340330492, -1.848126526964404),
            ),
        ),
        Surface(
            "rastrigin",
            "20 + x² − 10·cos(2πx) + y² − 10·cos(2πy)",
            rastrigin,
            (-2.0, 3.5),
            ((0.0, 0.0),),
        ),
    )
}


def nearest(point: Sequence[float], minima: Sequence[Point]) -> tuple[Point, float]:
    """The minimum closest to ``point`` and the Euclidean distance to it."""
    best = min(minima, key=lambda m: math.dist(point, m))
    return best, math.dist(point, best)
