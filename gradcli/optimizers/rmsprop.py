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
    import torch

    from gradcli.optimizers._common import scalar_dtype

    for param, grad, state in zip(params, grads, states, strict=True):
        if not state:
            state["step"] = torch.zeros((), dtype=scalar_dtype())
            state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            if momentum > 0:
                state["momentum_buffer"] = torch.zeros_like(
                    param, memory_format=torch.preserve_format
                )
            if centered:
                state["grad_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
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


RMSPROP = Optimizer(
    name="rmsprop",
    torch_class="RMSprop",
    summary="steps of g/√v, v a running mean of g² (optionally centered, with momentum)",
    lr=1e-2,
    hyperparameters=(
        Hyperparameter("alpha", 0.99, Real(0, 1), "Smoothing constant α in [0, 1]."),
        eps(1e-8),
        weight_decay(),
        Hyperparameter("momentum", 0.0, Real(0, 1, high_open=True), "Momentum μ in [0, 1)."),
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
    explain=explain,
    lrs={"linear": 0.05, "mlp": 0.01, "rosenbrock": 0.01},
)
OPTIMIZERS = (RMSPROP,)
