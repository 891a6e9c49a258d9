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

    from gradcli.optimizers._common import scalar_dtype

    beta1, beta2 = betas
    for param, grad, state in zip(params, grads, states, strict=True):
        if not state:
            state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            if amsgrad:
                state["max_exp_avg_sq"] = torch.zeros_like(
                    param, memory_format=torch.preserve_format
                )
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
_LRS = {"linear": 0.1, "mlp": 0.01, "rosenbrock": 0.1}

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
    explain=explain,
    lrs=_LRS,
)
ADAMW = Optimizer(
    name="adamw",
    torch_class="AdamW",
    summary="Adam with decoupled weight decay: θ shrinks by lr·λ outside the moments",
    lr=1e-3,
    hyperparameters=(BETAS, eps(1e-8), weight_decay(1e-2), _AMSGRAD, MAXIMIZE),
    state=_STATE,
    rule=adamw,
    explain=explain,
    lrs=_LRS,
)
OPTIMIZERS = (ADAM, ADAMW)
