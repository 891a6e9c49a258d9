"""NAdam (torch.optim.NAdam): Adam with Nesterov momentum, whose momentum coefficient warms up
along a schedule (Dozat's momentum cache)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    BETAS,
    MAXIMIZE,
    Flag,
    Hyperparameter,
    Optimizer,
    Real,
    eps,
    weight_decay,
)
from gradcli.optimizers.formula import Element, decayed_theta, effective_grad, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def nadam(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    momentum_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g, at step t = 1, 2, ...:

        g ← −g                                   if maximize
        θ ← θ·(1 − lr·λ)                          if decoupled_weight_decay, else
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        μ_t   ← β1·(1 − ½·0.96^(t·ψ))             (ψ = momentum_decay)
        μ_t+1 ← β1·(1 − ½·0.96^((t + 1)·ψ))
        Π ← Π·μ_t                                 (Π starts at 1: the product μ_1···μ_t)
        m ← m + (1 − β1)·(g − m)                  (lerp: β1·m + (1 − β1)·g)
        v ← β2·v + (1 − β2)·g²
        d ← √(v / (1 − β2ᵗ)) + ε
        θ ← θ − lr·(1 − μ_t)/(1 − Π) · g/d − lr·μ_t+1/(1 − Π·μ_t+1) · m/d

    State: ``step`` (t) and ``mu_product`` (Π), CPU scalar tensors; ``exp_avg`` (m),
    ``exp_avg_sq`` (v), starting at zero. Repeats torch's ``_single_tensor_nadam``.
    """
    beta1, beta2 = betas
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, state)
        grad = grad if not maximize else -grad
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        mu_product, step_t = state["mu_product"], state["step"]
        step_t += 1
        step = step_t.item()
        bias_correction2 = 1 - beta2**step
        if weight_decay != 0:
            if decoupled_weight_decay:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad.add(param, alpha=weight_decay)
        # The momentum cache: python floats, from the step as a float.
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        # In place on the scalar tensor (so in its dtype), then read back with .item().
        mu_product *= mu
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        # Unlike Adam: v is divided by the bias correction before the square root.
        denom = exp_avg_sq.div(bias_correction2).sqrt()
        # Π·μ_t+1 is a python float: it is never stored.
        mu_product_next = mu_product.item() * mu_next
        denom.add_(eps)
        param.addcdiv_(grad, denom, value=(-lr * (1.0 - mu) / (1.0 - mu_product.item())))
        param.addcdiv_(exp_avg, denom, value=(-lr * mu_next) / (1.0 - mu_product_next))


def _start(param: Tensor, state: dict[str, Tensor]) -> None:
    """torch's state at the first step."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        # torch keeps step and mu_product on the CPU, in float32 unless the default dtype
        # is float64 (not the parameter's dtype): Π rounds to float32 each step of a
        # float64 run.
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        state["mu_product"] = torch.tensor(1.0, dtype=scalar_dtype())
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)


def nadam_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    momentum_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype; the two step sizes are one scalar per parameter. Rounds differently
    from the for-loop: d is √v / √(1 − β2ᵗ) + ε, where the for-loop takes √(v / (1 − β2ᵗ)).
    Repeats torch's ``_multi_tensor_nadam``."""
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
            [s["mu_product"] for s in states],
            [s["step"] for s in states],
        ]
    )
    for group, _ in grouped.values():
        device_params, device_grads, exp_avgs, exp_avg_sqs, mu_products, steps = group
        if maximize:
            device_grads = foreach.neg(device_grads)
        if steps[0].is_cpu:
            foreach.add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
        else:
            foreach.add_(steps, 1)
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
        exp_avg_sq_sqrt = foreach.sqrt(exp_avg_sqs)
        bias_correction_sqrt = [(1 - beta2 ** step.item()) ** 0.5 for step in steps]
        mus = [beta1 * (1.0 - 0.5 * (0.96 ** (step.item() * momentum_decay))) for step in steps]
        mu_nexts = [
            beta1 * (1.0 - 0.5 * (0.96 ** ((step.item() + 1) * momentum_decay))) for step in steps
        ]
        foreach.mul_(mu_products, mus)
        foreach.div_(exp_avg_sq_sqrt, bias_correction_sqrt)
        foreach.add_(exp_avg_sq_sqrt, eps)
        step_size_grads = [
            (lr * (1.0 - mu) / (1.0 - product.item())) * -1
            for product, mu in zip(mu_products, mus, strict=True)
        ]
        step_size_exp_avg = [
            (lr * mu_next / (1.0 - product.item() * mu_next)) * -1
            for product, mu_next in zip(mu_products, mu_nexts, strict=True)
        ]
        foreach.addcdiv_(device_params, device_grads, exp_avg_sq_sqrt, step_size_grads)
        foreach.addcdiv_(device_params, exp_avgs, exp_avg_sq_sqrt, step_size_exp_avg)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    decoupled = bool(h["decoupled_weight_decay"])
    theta = decayed_theta(e, float(h["weight_decay"]), parts) if decoupled else e.theta
    g = effective_grad(e, h, parts, decoupled=decoupled)
    (beta1, beta2), eps, psi, t = h["betas"], float(h["eps"]), float(h["momentum_decay"]), e.step
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
    parts.append(
        f"μ_t = β1·(1 − ½·0.96^(t·ψ)) = {hyper(beta1)} × (1 − ½ × 0.96^({t} × {hyper(psi)}))"
        f" = {num(mu)}"
    )
    parts.append(
        f"μ_t+1 = {hyper(beta1)} × (1 − ½ × 0.96^({t + 1} × {hyper(psi)})) = {num(mu_next)}"
    )
    product = e.state_after["mu_product"]
    parts.append(f"Π = Π·μ_t = {num(e.was('mu_product', 1.0))} × {num(mu)} = {num(product)}")
    m, v = e.state_after["exp_avg"], e.state_after["exp_avg_sq"]
    parts.append(
        f"m = β1·m + (1 − β1)·g = {hyper(beta1)} × {num(e.was('exp_avg'))}"
        f" + {hyper(1 - beta1)} × {num(g)} = {num(m)}"
    )
    parts.append(
        f"v = β2·v + (1 − β2)·g² = {hyper(beta2)} × "
        f"{num(e.was('exp_avg_sq'))} + {hyper(1 - beta2)} × {num(g)}² = {num(v)}"
    )
    d = (v / (1 - beta2**t)) ** 0.5 + eps
    parts.append(
        f"d = √(v/(1 − β2^t)) + ε = √({num(v)}/(1 − {hyper(beta2)}^{t})) + {hyper(eps)} = {num(d)}"
    )
    parts.append(
        f"θ − lr·(1 − μ_t)/(1 − Π)·g/d − lr·μ_t+1/(1 − Π·μ_t+1)·m/d = {num(theta)} − "
        f"{hyper(e.lr)} × (1 − {num(mu)})/(1 − {num(product)}) × {num(g)}/{num(d)} − "
        f"{hyper(e.lr)} × {num(mu_next)}/(1 − {num(product)} × {num(mu_next)}) × "
        f"{num(m)}/{num(d)} = {num(e.theta_new)}"
    )
    return parts


NADAM = Optimizer(
    name="nadam",
    torch_class="NAdam",
    summary="Adam with Nesterov momentum, its momentum warming up by a schedule",
    lr=2e-3,
    hyperparameters=(
        BETAS,
        eps(1e-8),
        weight_decay(),
        Hyperparameter(
            "momentum_decay",
            4e-3,
            Real(),
            "Momentum decay ψ >= 0 (μ_t's warm-up speed).",
            tested=(0.0, 0.1),  # 0 keeps μ_t = β1/2
        ),
        Hyperparameter("decoupled_weight_decay", False, Flag(), "Decay θ directly, as AdamW does."),
        MAXIMIZE,
    ),
    state={
        "step": "t, the number of updates (a CPU scalar tensor)",
        "mu_product": "Π, the product μ_1···μ_t of the momentum schedule (a CPU scalar tensor)",
        "exp_avg": "m, the first moment (running mean of g)",
        "exp_avg_sq": "v, the second moment (running mean of g²)",
    },
    rule=nadam,
    foreach_rule=nadam_foreach,
    explain=explain,
    lrs={"linear": 0.1, "mlp": 0.1, "rosenbrock": 0.1},
)
OPTIMIZERS = (NADAM,)
