"""RMSprop (torch.optim.RMSprop): steps scaled by a running root mean square of g."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    MAXIMIZE,
    Flag,
    Hyperparameter,
    Optimizer,
    Real,
    eps,
    weight_decay,
)
from gradcli.optimizers.formula import Element, effective_grad, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g:

        g ← −g                                   if maximize
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        v ← α·v + (1 − α)·g²
        ḡ ← ḡ + (1 − α)·(g − ḡ)                   if centered (lerp)
        d ← √(v − ḡ²) + ε  if centered,  else  √v + ε
        b ← μ·b + g / d,  θ ← θ − lr·b            if momentum μ > 0
        θ ← θ − lr · g / d                        otherwise

    State: ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, if μ > 0),
    ``grad_avg`` (ḡ, if centered); all start at zero. Repeats torch's
    ``_single_tensor_rmsprop``.
    """
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, state, momentum, centered)
        grad = grad if not maximize else -grad
        square_avg = state["square_avg"]
        state["step"] += 1
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if centered:
            grad_avg = state["grad_avg"]
            grad_avg.lerp_(grad, 1 - alpha)
            avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        else:
            avg = square_avg.sqrt()
        avg = avg.add_(eps)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf.mul_(momentum).addcdiv_(grad, avg)
            param.add_(buf, alpha=-lr)
        else:
            param.addcdiv_(grad, avg, value=-lr)


def _start(param: Tensor, state: dict[str, Tensor], momentum: float, centered: bool) -> None:
    """torch's state at the first step: ``step`` a CPU scalar, the rest zero."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        state["step"] = torch.zeros((), dtype=scalar_dtype())
        state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if momentum > 0:
            state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if centered:
            state["grad_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)


def rmsprop_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None:
    """The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype. Repeats torch's ``_multi_tensor_rmsprop``."""
    import torch

    from gradcli.private_api import foreach, group_by_device_and_dtype

    if not params:
        return
    for param, state in zip(params, states, strict=True):
        _start(param, state, momentum, centered)
    grouped = group_by_device_and_dtype(
        [
            params,
            grads,
            [s["square_avg"] for s in states],
            [s["grad_avg"] for s in states] if centered else [],
            [s["momentum_buffer"] for s in states] if momentum > 0 else [],
            [s["step"] for s in states],
        ]
    )
    for group, _ in grouped.values():
        device_params, device_grads, square_avgs, grad_avgs, bufs, steps = group
        if maximize:
            device_grads = foreach.neg(device_grads)
        if steps[0].is_cpu:
            foreach.add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
        else:
            foreach.add_(steps, 1)
        if weight_decay != 0:
            if maximize:
                foreach.add_(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = foreach.add(device_grads, device_params, alpha=weight_decay)
        foreach.mul_(square_avgs, alpha)
        foreach.addcmul_(square_avgs, device_grads, device_grads, value=1 - alpha)
        if centered:
            foreach.lerp_(grad_avgs, device_grads, 1 - alpha)
            avg = foreach.addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
            foreach.sqrt_(avg)
        else:
            avg = foreach.sqrt(square_avgs)
        foreach.add_(avg, eps)
        if momentum > 0:
            foreach.mul_(bufs, momentum)
            foreach.addcdiv_(bufs, device_grads, avg)
            foreach.add_(device_params, bufs, alpha=-lr)
        else:
            foreach.addcdiv_(device_params, device_grads, avg, value=-lr)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    g = effective_grad(e, h, parts)
    alpha, eps, momentum = float(h["alpha"]), float(h["eps"]), float(h["momentum"])
    v = e.state_after["square_avg"]
    parts.append(
        f"v = α·v + (1 − α)·g² = {hyper(alpha)} × "
        f"{num(e.was('square_avg'))} + {hyper(1 - alpha)} × {num(g)}² = {num(v)}"
    )
    denom = f"(√{num(v)} + {hyper(eps)})"
    if h["centered"]:
        avg = e.state_after["grad_avg"]
        parts.append(
            f"ḡ = α·ḡ + (1 − α)·g = {hyper(alpha)} × "
            f"{num(e.was('grad_avg'))} + {hyper(1 - alpha)} × {num(g)} = {num(avg)}"
        )
        denom = f"(√({num(v)} − {num(avg)}²) + {hyper(eps)})"
    if momentum > 0:
        b = e.state_after["momentum_buffer"]
        parts.append(
            f"b = μ·b + g/(√v + ε) = {hyper(momentum)} × "
            f"{num(e.was('momentum_buffer'))} + {num(g)}/{denom} = {num(b)}"
        )
        parts.append(f"θ − lr·b = {num(e.theta)} − {hyper(e.lr)} × {num(b)} = {num(e.theta_new)}")
    else:
        parts.append(
            f"θ − lr·g/(√v + ε) = {num(e.theta)} − {hyper(e.lr)} × {num(g)}/{denom} = "
            f"{num(e.theta_new)}"
        )
    return parts


def _schedule_starts_momentum(first: dict[str, Any]) -> str | None:
    """torch's RMSprop makes its momentum buffer only when momentum > 0 at the first step: a
    schedule that starts momentum at 0 and raises it later would meet no buffer (KeyError)."""
    if first.get("momentum") == 0:
        return (
            "it starts RMSprop's momentum at 0, and torch's RMSprop makes its momentum buffer "
            "only when momentum > 0 at the first step; give the schedule a first momentum > 0"
        )
    return None


RMSPROP = Optimizer(
    name="rmsprop",
    torch_class="RMSprop",
    summary="steps of g/√v, v a running mean of g² (optionally centered, with momentum)",
    lr=1e-2,
    hyperparameters=(
        Hyperparameter(
            "alpha", 0.99, Real(0, 1), "Smoothing constant α in [0, 1].", tested=(0.5, 0.999)
        ),
        eps(1e-8),
        weight_decay(),
        Hyperparameter(
            "momentum",
            0.0,
            Real(0, 1, high_open=True),
            "Momentum μ in [0, 1).",
            tested=(0.0, 0.95),
        ),
        Hyperparameter("centered", False, Flag(), "Normalise by the variance."),
        MAXIMIZE,
    ),
    state={
        "step": "t, the number of updates",
        "square_avg": "v, the running mean of g²",
        "momentum_buffer": "b (only with momentum)",
        "grad_avg": "ḡ, the running mean of g (only when centered)",
    },
    rule=rmsprop,
    foreach_rule=rmsprop_foreach,
    explain=explain,
    lrs={
        "linear": 0.05,
        "mlp": 0.01,
        "rosenbrock": 0.01,
        "beale": 0.01,
        "himmelblau": 0.05,
        "rastrigin": 0.05,
    },
    compared_by_default=True,
    schedule_check=_schedule_starts_momentum,
)
OPTIMIZERS = (RMSPROP,)
