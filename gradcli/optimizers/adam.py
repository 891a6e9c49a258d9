"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW): one rule, as torch shares
``_single_tensor_adam``; AdamW is Adam with ``decoupled_weight_decay=True``."""

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


def adam(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool = False,
) -> None:
    r"""For each parameter θ with gradient g, at step t = 1, 2, ...:

        g ← −g                                   if maximize
        θ ← θ·(1 − lr·λ)                          if decoupled_weight_decay (AdamW), else
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        m ← m + (1 − β1)·(g − m)                  (lerp: β1·m + (1 − β1)·g)
        v ← β2·v + (1 − β2)·g²
        v_max ← max(v_max, v)                     if amsgrad, and v ← v_max below
        θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)

    State: ``step`` (t, a CPU scalar tensor), ``exp_avg`` (m), ``exp_avg_sq`` (v),
    ``max_exp_avg_sq`` (v_max, amsgrad only); m, v start at zero. Repeats torch's
    ``_single_tensor_adam``.
    """
    import torch

    beta1, beta2 = betas
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, state, amsgrad)
        grad = grad if not maximize else -grad
        exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        step_t += 1
        if weight_decay != 0:
            if decoupled_weight_decay:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad.add(param, alpha=weight_decay)
        # m ← β1·m + (1 − β1)·g as a lerp: not the same rounding as the textbook form.
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = step_t.item()
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        if amsgrad:
            max_exp_avg_sq = state["max_exp_avg_sq"]
            torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            # ε is added after the bias correction, not to √v before it.
            denom = (max_exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        else:
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)


def _start(param: Tensor, state: dict[str, Tensor], amsgrad: bool) -> None:
    """torch's state at the first step: ``step`` a CPU scalar, the moments zero."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if amsgrad:
            state["max_exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)


def adam_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool = False,
) -> None:
    """The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype; −lr/(1 − β1ᵗ) is one scalar per parameter, given to the last
    ``addcdiv`` as a list. Repeats torch's ``_multi_tensor_adam``."""
    import torch

    from gradcli.private_api import foreach, group_by_device_and_dtype

    if not params:
        return
    beta1, beta2 = betas
    for param, state in zip(params, states, strict=True):
        _start(param, state, amsgrad)
    grouped = group_by_device_and_dtype(
        [
            params,
            grads,
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["max_exp_avg_sq"] for s in states] if amsgrad else [],
            [s["step"] for s in states],
        ]
    )
    for group, _ in grouped.values():
        device_params, device_grads, exp_avgs, exp_avg_sqs, max_sqs, steps = group
        if maximize:
            device_grads = foreach.neg(device_grads)
        # A CPU step takes a tensor 1 (torch's faster overload there): the same sum.
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
        bias_correction1 = [1 - beta1 ** step.item() for step in steps]
        bias_correction2 = [1 - beta2 ** step.item() for step in steps]
        step_size = [(lr / bc) * -1 for bc in bias_correction1]
        bias_correction2_sqrt = [bc**0.5 for bc in bias_correction2]
        if amsgrad:
            foreach.maximum_(max_sqs, exp_avg_sqs)
            exp_avg_sq_sqrt = foreach.sqrt(max_sqs)
        else:
            exp_avg_sq_sqrt = foreach.sqrt(exp_avg_sqs)
        foreach.div_(exp_avg_sq_sqrt, bias_correction2_sqrt)
        foreach.add_(exp_avg_sq_sqrt, eps)
        foreach.addcdiv_(device_params, exp_avgs, exp_avg_sq_sqrt, step_size)


def adamw(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
) -> None:
    r"""Adam with decoupled weight decay: the decay shrinks θ directly instead of entering
    the gradient (and so the moments):

        θ ← θ · (1 − lr·λ)                        before the moment updates
        m, v, θ as in Adam, with the undecayed g

    torch's default λ is 0.01 here (0 for Adam). State as in Adam.
    """
    adam(
        params,
        grads,
        states,
        lr=lr,
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=True,
    )


def adamw_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
) -> None:
    """Adam's foreach rule with decoupled weight decay, as torch.optim.AdamW runs it."""
    adam_foreach(
        params,
        grads,
        states,
        lr=lr,
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=True,
    )


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    decoupled = bool(h.get("decoupled_weight_decay", True))  # AdamW has no such keyword
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
    if h["amsgrad"]:
        v = e.state_after["max_exp_avg_sq"]
        parts.append(f"v = max(v_max, v) = {num(v)}")
    parts.append(
        f"θ − lr/(1 − β1^t) · m/(√v/√(1 − β2^t) + ε) = {num(theta)} − "
        f"{hyper(e.lr)}/(1 − {hyper(beta1)}^{t}) × {num(m)}/(√{num(v)}/"
        f"√(1 − {hyper(beta2)}^{t}) + {hyper(eps)}) = {num(e.theta_new)}"
    )
    return parts


_STATE = {
    "step": "t, the number of updates (a CPU scalar tensor)",
    "exp_avg": "m, the first moment (running mean of g)",
    "exp_avg_sq": "v, the second moment (running mean of g²)",
    "max_exp_avg_sq": "v_max, the running maximum of v (amsgrad only)",
}
_AMSGRAD = Hyperparameter("amsgrad", False, Flag(), "Use the running maximum of v.")
_LRS = {
    "linear": 0.1,
    "mlp": 0.01,
    "rosenbrock": 0.1,
    "beale": 0.1,
    "himmelblau": 0.1,
    "rastrigin": 0.1,
}

ADAM = Optimizer(
    name="adam",
    torch_class="Adam",
    summary="adaptive moments: a step along m/√v, bias-corrected",
    lr=1e-3,
    hyperparameters=(
        BETAS,
        eps(1e-8),
        weight_decay(),
        _AMSGRAD,
        MAXIMIZE,
        Hyperparameter("decoupled_weight_decay", False, Flag(), "Decay θ directly, as AdamW does."),
    ),
    state=_STATE,
    rule=adam,
    foreach_rule=adam_foreach,
    explain=explain,
    lrs=_LRS,
    compared_by_default=True,
)
ADAMW = Optimizer(
    name="adamw",
    torch_class="AdamW",
    summary="Adam with decoupled weight decay: θ shrinks by lr·λ outside the moments",
    lr=1e-3,
    hyperparameters=(BETAS, eps(1e-8), weight_decay(1e-2), _AMSGRAD, MAXIMIZE),
    state=_STATE,
    rule=adamw,
    foreach_rule=adamw_foreach,
    explain=explain,
    lrs=_LRS,
    compared_by_default=True,
)
OPTIMIZERS = (ADAM, ADAMW)
