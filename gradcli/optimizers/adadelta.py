"""Adadelta (torch.optim.Adadelta): steps of g scaled by the ratio of two running RMS, of
past steps and of past gradients."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    MAXIMIZE,
    Hyperparameter,
    Optimizer,
    Real,
    eps,
    weight_decay,
)
from gradcli.optimizers.formula import Element, effective_grad, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def adadelta(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g:

        g ← −g                                   if maximize
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        v ← ρ·v + (1 − ρ)·g²
        Δ ← √(u + ε) / √(v + ε) · g               (u from the previous step)
        u ← ρ·u + (1 − ρ)·Δ²
        θ ← θ − lr·Δ

    State: ``step`` (t, a CPU scalar tensor), ``square_avg`` (v), ``acc_delta`` (u); v and u
    start at zero. Repeats torch's ``_single_tensor_adadelta``.
    """
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, state)
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        state["step"] += 1
        grad = grad if not maximize else -grad
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        # ε sits under both roots: at the first step u = 0, so the step is √ε/√(v + ε)·g,
        # which is why Adadelta starts slowly whatever lr is.
        std = square_avg.add(eps).sqrt_()
        delta = acc_delta.add(eps).sqrt_()
        delta.div_(std).mul_(grad)
        # u takes Δ before lr scales it (the paper has no lr; torch's default is 1).
        acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        param.add_(delta, alpha=-lr)


def _start(param: Tensor, state: dict[str, Tensor]) -> None:
    """torch's state at the first step: ``step`` a CPU scalar, v and u zero."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        state["step"] = torch.zeros((), dtype=scalar_dtype())
        state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["acc_delta"] = torch.zeros_like(param, memory_format=torch.preserve_format)


def adadelta_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype. Repeats torch's ``_multi_tensor_adadelta``."""
    import torch

    from gradcli.private_api import foreach, group_by_device_and_dtype

    if not params:
        return
    for param, state in zip(params, states, strict=True):
        _start(param, state)
    grouped = group_by_device_and_dtype(
        [
            params,
            grads,
            [s["square_avg"] for s in states],
            [s["acc_delta"] for s in states],
            [s["step"] for s in states],
        ]
    )
    for (device_params, device_grads, square_avgs, acc_deltas, steps), _ in grouped.values():
        if steps[0].is_cpu:
            foreach.add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
        else:
            foreach.add_(steps, 1)
        if maximize:
            device_grads = foreach.neg(device_grads)
        if weight_decay != 0:
            if maximize:
                foreach.add_(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = foreach.add(device_grads, device_params, alpha=weight_decay)
        foreach.mul_(square_avgs, rho)
        foreach.addcmul_(square_avgs, device_grads, device_grads, value=1 - rho)
        std = foreach.add(square_avgs, eps)
        foreach.sqrt_(std)
        deltas = foreach.add(acc_deltas, eps)
        foreach.sqrt_(deltas)
        foreach.div_(deltas, std)
        foreach.mul_(deltas, device_grads)
        foreach.mul_(acc_deltas, rho)
        foreach.addcmul_(acc_deltas, deltas, deltas, value=1 - rho)
        foreach.add_(device_params, deltas, alpha=-lr)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    g = effective_grad(e, h, parts)
    rho, eps = float(h["rho"]), float(h["eps"])
    v, u = e.state_after["square_avg"], e.state_after["acc_delta"]
    u_before = e.was("acc_delta")
    parts.append(
        f"v = ρ·v + (1 − ρ)·g² = {hyper(rho)} × {num(e.was('square_avg'))} + "
        f"{hyper(1 - rho)} × {num(g)}² = {num(v)}"
    )
    delta = math.sqrt(u_before + eps) / math.sqrt(v + eps) * g
    parts.append(
        f"Δ = √(u + ε)/√(v + ε)·g = √({num(u_before)} + {hyper(eps)})/√({num(v)} + "
        f"{hyper(eps)}) × {num(g)} = {num(delta)}"
    )
    parts.append(
        f"u = ρ·u + (1 − ρ)·Δ² = {hyper(rho)} × {num(u_before)} + {hyper(1 - rho)} × "
        f"{num(delta)}² = {num(u)}"
    )
    parts.append(f"θ − lr·Δ = {num(e.theta)} − {hyper(e.lr)} × {num(delta)} = {num(e.theta_new)}")
    return parts


ADADELTA = Optimizer(
    name="adadelta",
    torch_class="Adadelta",
    summary="steps of g·√(u + ε)/√(v + ε): v a running mean of g², u of the steps squared",
    lr=1.0,
    hyperparameters=(
        Hyperparameter("rho", 0.9, Real(0, 1), "Decay ρ in [0, 1] of both running means."),
        eps(1e-6),
        weight_decay(),
        MAXIMIZE,
    ),
    state={
        "step": "t, the number of updates",
        "square_avg": "v, the running mean of g²",
        "acc_delta": "u, the running mean of the squared steps Δ²",
    },
    rule=adadelta,
    foreach_rule=adadelta_foreach,
    explain=explain,
    lrs={"linear": 10.0, "mlp": 3.0, "rosenbrock": 3.0},
)
OPTIMIZERS = (ADADELTA,)
