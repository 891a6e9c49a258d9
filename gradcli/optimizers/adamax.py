"""Adamax (torch.optim.Adamax): Adam with the infinity norm, steps of m/u with u a decaying
running maximum of |g|."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    BETAS,
    MAXIMIZE,
    Optimizer,
    eps,
    weight_decay,
)
from gradcli.optimizers.formula import Element, effective_grad, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def adamax(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g, at step t = 1, 2, ...:

        g ← −g                                   if maximize
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        m ← m + (1 − β1)·(g − m)                  (lerp: β1·m + (1 − β1)·g)
        u ← max(β2·u, |g| + ε)
        θ ← θ − (lr / (1 − β1ᵗ)) · m / u

    State: ``step`` (t, a CPU scalar tensor), ``exp_avg`` (m), ``exp_inf`` (u), m and u
    starting at zero. Repeats torch's ``_single_tensor_adamax``.
    """
    import torch

    beta1, beta2 = betas
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, state)
        grad = grad if not maximize else -grad
        exp_avg, exp_inf, step_t = state["exp_avg"], state["exp_inf"], state["step"]
        step_t += 1
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)
        # ε is inside the max, added to |g|, not to the denominator: u >= ε always, and u
        # gets no bias correction (only lr does).
        torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)
        bias_correction = 1 - beta1 ** step_t.item()
        clr = lr / bias_correction
        param.addcdiv_(exp_avg, exp_inf, value=-clr)


def _start(param: Tensor, state: dict[str, Tensor]) -> None:
    """torch's state at the first step: ``step`` a CPU scalar, m and u zero."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_inf"] = torch.zeros_like(param, memory_format=torch.preserve_format)


def adamax_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype; −lr/(1 − β1ᵗ) is one scalar per parameter. Repeats torch's
    ``_multi_tensor_adamax``."""
    import torch

    from gradcli.private_api import foreach, group_by_device_and_dtype

    if not params:
        return
    beta1, beta2 = betas
    for param, state in zip(params, states, strict=True):
        _start(param, state)
    grouped = group_by_device_and_dtype(
        [
            params,
            grads,
            [s["exp_avg"] for s in states],
            [s["exp_inf"] for s in states],
            [s["step"] for s in states],
        ]
    )
    for (device_params, device_grads, exp_avgs, exp_infs, steps), _ in grouped.values():
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
        foreach.lerp_(exp_avgs, device_grads, 1 - beta1)
        foreach.mul_(exp_infs, beta2)
        # |g| in place where g is already a copy, else into a new list (never into p.grad)
        if not maximize and weight_decay == 0:
            device_grads = foreach.abs(device_grads)
        else:
            foreach.abs_(device_grads)
        foreach.add_(device_grads, eps)
        foreach.maximum_(exp_infs, device_grads)
        bias_corrections = [1 - beta1 ** step.item() for step in steps]
        step_size = [(lr / bc) * -1 for bc in bias_corrections]
        foreach.addcdiv_(device_params, exp_avgs, exp_infs, step_size)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    g = effective_grad(e, h, parts)
    (beta1, beta2), eps, t = h["betas"], float(h["eps"]), e.step
    m, u = e.state_after["exp_avg"], e.state_after["exp_inf"]
    parts.append(
        f"m = β1·m + (1 − β1)·g = {hyper(beta1)} × {num(e.was('exp_avg'))}"
        f" + {hyper(1 - beta1)} × {num(g)} = {num(m)}"
    )
    parts.append(
        f"u = max(β2·u, |g| + ε) = max({hyper(beta2)} × {num(e.was('exp_inf'))}, "
        f"|{num(g)}| + {hyper(eps)}) = {num(u)}"
    )
    clr = e.lr / (1 - beta1**t)
    parts.append(f"η = lr/(1 − β1^t) = {hyper(e.lr)}/(1 − {hyper(beta1)}^{t}) = {num(clr)}")
    parts.append(
        f"θ − η·m/u = {num(e.theta)} − {num(clr)} × {num(m)}/{num(u)} = {num(e.theta_new)}"
    )
    return parts


ADAMAX = Optimizer(
    name="adamax",
    torch_class="Adamax",
    summary="Adam with the infinity norm: steps of m/u, u a decaying maximum of |g|",
    lr=2e-3,
    hyperparameters=(BETAS, eps(1e-8), weight_decay(), MAXIMIZE),
    state={
        "step": "t, the number of updates (a CPU scalar tensor)",
        "exp_avg": "m, the first moment (running mean of g)",
        "exp_inf": "u, the decaying running maximum of |g| + ε",
    },
    rule=adamax,
    foreach_rule=adamax_foreach,
    explain=explain,
    lrs={"linear": 0.3, "mlp": 0.1, "rosenbrock": 0.3},
)
OPTIMIZERS = (ADAMAX,)
