"""What the path picture needs from a live problem: its two trainable elements, the loss
over a region of them, and the minima it knows.

Any problem whose trainable parameters hold exactly two elements in all qualifies, a
user's model as much as a built-in; a user's module may say where its minima are with
``minima() -> [(x, y), ...]``, points of its trainable elements in parameter order.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import warnings
from collections.abc import Callable

import torch
from torch import nn

from gradcli.errors import GradcliError
from gradcli.records import DISTANCE
from gradcli.surfaces import Point, nearest


def axis_names(problem: nn.Module) -> list[str] | None:
    """``["xy[0]", "xy[1]"]`` (or ``["a", "b"]`` for two scalars): the names of the two
    trainable elements, or None when there are not exactly two."""
    trainable = [(n, p) for n, p in problem.named_parameters() if p.requires_grad]
    if sum(p.numel() for _, p in trainable) != 2:
        return None
    return [
        name if p.numel() == 1 and p.dim() == 0 else f"{name}[{i}]"
        for name, p in trainable
        for i in range(p.numel())
    ]


def require_two(problem: nn.Module, model: str) -> list[str]:
    """The axis names, or one line saying why the path picture cannot be drawn."""
    names = axis_names(problem)
    if names is None:
        count = sum(p.numel() for p in problem.parameters() if p.requires_grad)
        raise GradcliError(
            f"--plot path: needs a problem with exactly two trainable elements "
            f"(--model {model} has {count}); try -m rosenbrock, beale, himmelblau or rastrigin"
        )
    return names


def loss_at(problem: nn.Module) -> Callable[[float, float], float]:
    """The loss at any point of the two elements, on a float64 copy of ``problem`` on the
    CPU (the picture does not depend on the run's float32 rounding). The picture asks at
    hundreds of points that no run visited: what ``forward()`` prints or warns there (a
    torch ``UserWarning``) is not the run's news and is dropped, never put into the picture
    on stdout nor on stderr."""
    probe = copy.deepcopy(problem).to(device="cpu", dtype=torch.float64)
    params = [p for p in probe.parameters() if p.requires_grad]

    @torch.no_grad()
    def loss(x: float, y: float) -> float:
        flat = iter((x, y))
        for p in params:
            p.copy_(torch.tensor([next(flat) for _ in range(p.numel())]).reshape(p.shape))
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            try:
                value = float(probe())
            except Exception:  # a point where the user's forward() fails: no shade there
                return math.nan
        return value

    return loss


def minima_of(problem: nn.Module) -> list[Point]:
    """The minima the problem says it has (none when it says nothing)."""
    found = getattr(problem, "minima", None)
    return [tuple(float(v) for v in m) for m in found()] if callable(found) else []


def distance_metrics(problem: nn.Module) -> dict[str, float]:
    """The distance of the trainable elements from the nearest minimum, for the summary."""
    minima = minima_of(problem)
    if not minima:
        return {}
    point = [
        v
        for p in problem.parameters()
        if p.requires_grad
        for v in p.detach().double().flatten().tolist()
    ]
    return {DISTANCE: nearest(point, minima)[1]}
