"""Adagrad (torch.optim.Adagrad): steps scaled by the root of the sum of all past g²."""

from __future__ import annotations

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


def adagrad(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    initial_accumulator_value: float,
    eps: float,
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g, at step t = 1, 2, ...:

        g ← −g                                   if maximize
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        η ← lr / (1 + (t − 1)·lr_decay)
        s ← s + g²                                (s starts at initial_accumulator_value)
        θ ← θ − η · g / (√s + ε)

    State: ``step`` (t), ``sum`` (s). torch.optim.Adagrad creates them when it is
    constructed; this rule creates them at the first step, with the same values. Repeats
    torch's ``_single_tensor_adagrad``.
    """
    import torch

    from gradcli.optimizers._common import scalar_dtype

    for param, grad, state in zip(params, grads, states, strict=True):
        if not state:
            state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
            state["sum"] = torch.full_like(
                param, initial_accumulator_value, memory_format=torch.preserve_format
            )
        step_t = state["step"]
        step_t += 1
        step = step_t.item()
        grad = grad if not maximize else -grad
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum = state["sum"]
        state_sum.addcmul_(grad, grad, value=1)
        std = state_sum.sqrt().add_(eps)
        param.addcdiv_(grad, std, value=-clr)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    g = effective_grad(e, h, parts)
    lr_decay, eps = float(h["lr_decay"]), float(h["eps"])
    s = e.state_after["sum"]
    s_before = e.was("sum", float(h["initial_accumulator_value"]))
    parts.append(f"s = s + g² = {num(s_before)} + {num(g)}² = {num(s)}")
    clr = e.lr / (1 + (e.step - 1) * lr_decay)
    parts.append(
        f"η = lr/(1 + (t − 1)·lr_decay) = {hyper(e.lr)}/(1 + {e.step - 1} × "
        f"{hyper(lr_decay)}) = {num(clr)}"
    )
    parts.append(
        f"θ − η·g/(√s + ε) = {num(e.theta)} − {num(clr)} × {num(g)}/(√{num(s)} + "
        f"{hyper(eps)}) = {num(e.theta_new)}"
    )
    return parts


ADAGRAD = Optimizer(
    name="adagrad",
    torch_class="Adagrad",
    summary="steps of g/√s, s the sum of every g² so far: each element slows on its own",
    lr=1e-2,
    hyperparameters=(
        Hyperparameter("lr_decay", 0.0, Real(), "Learning-rate decay >= 0."),
        weight_decay(),
        Hyperparameter(
            "initial_accumulator_value", 0.0, Real(), "Starting value of the sum, >= 0."
        ),
        eps(1e-10),
        MAXIMIZE,
    ),
    state={"step": "t, the number of updates", "sum": "s, the sum of g² (per element)"},
    rule=adagrad,
    explain=explain,
    lrs={"linear": 0.5, "mlp": 0.1, "rosenbrock": 0.5},
)
OPTIMIZERS = (ADAGRAD,)
