"""RAdam (torch.optim.RAdam): Adam whose adaptive step is rectified for the variance of v in
the first steps, and switched off while too few steps make that variance unbounded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    BETAS,
    MAXIMIZE,
    Flag,
    Hyperparameter,
    Optimizer,
    eps,
    weight_decay,
)
from gradcli.optimizers.formula import Element, decayed_theta, effective_grad, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def radam(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g, at step t = 1, 2, ...:

        g ← −g                                   if maximize
        θ ← θ·(1 − lr·λ)                          if decoupled_weight_decay, else
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        m ← m + (1 − β1)·(g − m)                  (lerp: β1·m + (1 − β1)·g)
        v ← β2·v + (1 − β2)·g²
        m̂ ← m / (1 − β1ᵗ)
        ρ∞ ← 2/(1 − β2) − 1
        ρ_t ← ρ∞ − 2t·β2ᵗ/(1 − β2ᵗ)
        if ρ_t > 5:
            r ← √((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
            θ ← θ − lr·m̂ · √(1 − β2ᵗ)/(√v + ε) · r
        else:
            θ ← θ − lr·m̂                          (momentum SGD: no adaptive step)

    With torch's β2 = 0.999, ρ_t > 5 from t = 6 on. State: ``step`` (t, a CPU scalar
    tensor), ``exp_avg`` (m), ``exp_avg_sq`` (v), starting at zero. Repeats torch's
    ``_single_tensor_radam``.
    """
    beta1, beta2 = betas
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, state)
        grad = grad if not maximize else -grad
        exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        step_t += 1
        step = step_t.item()
        if weight_decay != 0:
            if decoupled_weight_decay:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad.add(param, alpha=weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        # m̂ is a new tensor, divided (not multiplied by a reciprocal).
        bias_corrected_exp_avg = exp_avg / bias_correction1
        # ρ∞ and ρ_t are python floats, from the step as a float.
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            # Left to right, as torch writes it: ((m̂·lr)·(√(1 − β2ᵗ)/(√v + ε)))·r, each
            # product a new tensor; ε is added to √v, not to the bias-corrected √v̂.
            scaled = bias_corrected_exp_avg * lr
            adaptive_lr = (bias_correction2**0.5) / exp_avg_sq.sqrt().add_(eps)
            rect = _rectification(rho_t, rho_inf)
            param.add_(scaled * adaptive_lr * rect, alpha=-1.0)
        else:
            param.add_(bias_corrected_exp_avg * lr, alpha=-1.0)


def _rectification(rho_t: float, rho_inf: float) -> float:
    """r = √((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t)), in torch's order."""
    return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def _start(param: Tensor, state: dict[str, Tensor]) -> None:
    """torch's state at the first step: ``step`` a CPU scalar, the moments zero."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)


def radam_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    r"""The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype, both cases in one formula. Rounds differently from the for-loop:
    m̂ is never formed; each parameter gets two scalars, a = −lr·r/(1 − β1ᵗ)·√(1 − β2ᵗ)
    and b = −lr/(1 − β1ᵗ) if ρ_t ≤ 5 (else 0, and r = 0 if ρ_t ≤ 5), and

        θ ← θ + m · (1 / ((√v + ε) / a) + b)

    With ρ_t ≤ 5, a is −0.0, so (√v + ε)/a is −∞ and its reciprocal −0.0 (NaN where
    √v + ε = 0, that is ε = 0 and v = 0). Repeats torch's ``_multi_tensor_radam``.
    """
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
            [s["exp_avg_sq"] for s in states],
            [s["step"] for s in states],
        ]
    )
    for (device_params, device_grads, exp_avgs, exp_avg_sqs, steps), _ in grouped.values():
        if steps[0].is_cpu:
            foreach.add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
        else:
            foreach.add_(steps, 1)
        if maximize:
            device_grads = foreach.neg(device_grads)
        rho_inf = 2 / (1 - beta2) - 1
        rho_ts = [
            rho_inf - 2 * step.item() * (beta2 ** step.item()) / (1 - beta2 ** step.item())
            for step in steps
        ]
        if weight_decay != 0:
            if decoupled_weight_decay:
                foreach.mul_(device_params, 1 - lr * weight_decay)
            elif maximize:
                foreach.add_(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = foreach.add(device_grads, device_params, alpha=weight_decay)
        foreach.lerp_(exp_avgs, device_grads, 1 - beta1)
        foreach.mul_(exp_avg_sqs, beta2)
        foreach.addcmul_(exp_avg_sqs, device_grads, device_grads, 1 - beta2)
        # torch's Python numbers, written as torch writes them (the int 0s included)
        rects = [_rectification(rho_t, rho_inf) if rho_t > 5 else 0 for rho_t in rho_ts]
        unrectified = [0 if rect > 0 else 1.0 for rect in rects]
        bias_correction1 = [1 - beta1 ** step.item() for step in steps]
        unrect_step_size = [
            (lr * rect / bc) * -1 for rect, bc in zip(unrectified, bias_correction1, strict=True)
        ]
        bias_correction2 = [
            ((1 - beta2 ** step.item()) ** 0.5) * (lr * rect / bc) * -1
            for step, rect, bc in zip(steps, rects, bias_correction1, strict=True)
        ]
        buffer = foreach.sqrt(exp_avg_sqs)
        foreach.add_(buffer, eps)
        foreach.div_(buffer, bias_correction2)
        foreach.reciprocal_(buffer)
        foreach.add_(buffer, unrect_step_size)
        foreach.addcmul_(device_params, exp_avgs, buffer)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    decoupled = bool(h["decoupled_weight_decay"])
    theta = decayed_theta(e, float(h["weight_decay"]), parts) if decoupled else e.theta
    g = effective_grad(e, h, parts, decoupled=decoupled)
    (beta1, beta2), eps, t = h["betas"], float(h["eps"]), e.step
    m, v = e.state_after["exp_avg"], e.state_after["exp_avg_sq"]
    parts.append(
        f"m = β1·m + (1 − β1)·g = {hyper(beta1)} × {num(e.was('exp_avg'))}"
        f" + {hyper(1 - beta1)} × {num(g)} = {num(m)}"
    )
    parts.append(
        f"v = β2·v + (1 − β2)·g² = {hyper(beta2)} × "
        f"{num(e.was('exp_avg_sq'))} + {hyper(1 - beta2)} × {num(g)}² = {num(v)}"
    )
    m_hat = m / (1 - beta1**t)
    parts.append(f"m̂ = m/(1 − β1^t) = {num(m)}/(1 − {hyper(beta1)}^{t}) = {num(m_hat)}")
    bias_correction2 = 1 - beta2**t
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * (beta2**t) / bias_correction2
    parts.append(
        f"ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t) = {num(rho_inf)} − 2 × {t} × {hyper(beta2)}^{t}"
        f"/(1 − {hyper(beta2)}^{t}) = {num(rho_t)}"
    )
    if rho_t > 5.0:
        rect = (
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        ) ** 0.5
        parts.append(
            f"ρ_t > 5, rectified: r = √((ρ_t − 4)(ρ_t − 2)ρ∞/((ρ∞ − 4)(ρ∞ − 2)ρ_t)) = {num(rect)}"
        )
        parts.append(
            f"θ − lr·m̂·√(1 − β2^t)/(√v + ε)·r = {num(theta)} − {hyper(e.lr)} × {num(m_hat)}"
            f" × √(1 − {hyper(beta2)}^{t})/(√{num(v)} + {hyper(eps)}) × {num(rect)}"
            f" = {num(e.theta_new)}"
        )
    else:
        parts.append("ρ_t ≤ 5, not rectified: a momentum step, no adaptive lr")
        parts.append(f"θ − lr·m̂ = {num(theta)} − {hyper(e.lr)} × {num(m_hat)} = {num(e.theta_new)}")
    return parts


RADAM = Optimizer(
    name="radam",
    torch_class="RAdam",
    summary="rectified Adam: momentum steps until ρ_t > 5, then Adam's step scaled by r",
    lr=1e-3,
    hyperparameters=(
        BETAS,
        eps(1e-8),
        weight_decay(),
        Hyperparameter("decoupled_weight_decay", False, Flag(), "Decay θ directly, as AdamW does."),
        MAXIMIZE,
    ),
    state={
        "step": "t, the number of updates (a CPU scalar tensor)",
        "exp_avg": "m, the first moment (running mean of g)",
        "exp_avg_sq": "v, the second moment (running mean of g²)",
    },
    rule=radam,
    foreach_rule=radam_foreach,
    explain=explain,
    lrs={"linear": 0.3, "mlp": 0.3, "rosenbrock": 1e-4},
)
OPTIMIZERS = (RADAM,)
