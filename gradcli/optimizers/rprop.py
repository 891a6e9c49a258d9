"""Rprop (torch.optim.Rprop): resilient backpropagation, steps of sign(g) with a size per
element that grows while g keeps its sign and shrinks when it flips."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    MAXIMIZE,
    Hyperparameter,
    Optimizer,
    Real,
    Several,
)
from gradcli.optimizers.formula import Element, effective_grad, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def rprop(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    etas: tuple[float, float],
    step_sizes: tuple[float, float],
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g, element by element:

        g ← −g                                   if maximize
        f ← η+ if g·p > 0,  η− if g·p < 0,  1 if g·p = 0      (p: the previous g)
        Δ ← clamp(Δ·f, Δ_min, Δ_max)              (Δ starts at lr)
        g ← 0                                     where f = η− (the sign flipped)
        θ ← θ − sign(g)·Δ
        p ← g

    Only the sign of g moves θ; lr is only Δ's starting value. State: ``step`` (t, a CPU
    scalar tensor), ``prev`` (p, starting at zero), ``step_size`` (Δ, starting at lr).
    Repeats torch's ``_single_tensor_rprop``.
    """
    import torch

    etaminus, etaplus = etas
    step_size_min, step_size_max = step_sizes
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, grad, state, lr)
        grad = grad if not maximize else -grad
        prev, step_size = state["prev"], state["step_size"]
        state["step"] += 1
        # The factors are written into the sign tensor itself, in this order: η− and 1 are
        # positive, so no element is rewritten by a later line.
        sign = grad.mul(prev).sign()
        sign[sign.gt(0)] = etaplus
        sign[sign.lt(0)] = etaminus
        sign[sign.eq(0)] = 1
        step_size.mul_(sign).clamp_(step_size_min, step_size_max)
        # Where the sign flipped, g is zeroed: no step there now, and p = 0 makes the next
        # factor 1, so Δ does not shrink twice in a row.
        grad = grad.clone(memory_format=torch.preserve_format)
        grad[sign.eq(etaminus)] = 0
        param.addcmul_(grad.sign(), step_size, value=-1)
        prev.copy_(grad)


def _start(param: Tensor, grad: Tensor, state: dict[str, Tensor], lr: float) -> None:
    """torch's state at the first step: ``step`` a CPU scalar, p zero, Δ = lr."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        state["step"] = torch.zeros((), dtype=scalar_dtype())
        state["prev"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["step_size"] = torch.full_like(grad, lr)


def rprop_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    etas: tuple[float, float],
    step_sizes: tuple[float, float],
    maximize: bool,
) -> None:
    """The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype where torch has one (the factors, the clamp and the zeroing go tensor
    by tensor). p takes g first and is zeroed where the sign flipped. Repeats torch's
    ``_multi_tensor_rprop``."""
    import torch

    from gradcli.private_api import foreach, group_by_device_and_dtype

    if not params:
        return
    etaminus, etaplus = etas
    step_size_min, step_size_max = step_sizes
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, grad, state, lr)
    grouped = group_by_device_and_dtype(
        [
            params,
            grads,
            [s["prev"] for s in states],
            [s["step_size"] for s in states],
            [s["step"] for s in states],
        ]
    )
    for (device_params, device_grads, prevs, sizes, steps), _ in grouped.values():
        if steps[0].is_cpu:
            foreach.add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
        else:
            foreach.add_(steps, 1)
        # torch's order: g·p from the raw g, negated for maximize
        signs = foreach.mul(device_grads, prevs)
        if maximize:
            foreach.neg_(signs)
        # p's memory holds the new g from here on (torch's reuse of it)
        foreach.copy_(prevs, device_grads)
        if maximize:
            foreach.neg_(prevs)
        device_grads = prevs
        foreach.sign_(signs)
        for sign in signs:
            sign[sign.gt(0)] = etaplus
            sign[sign.lt(0)] = etaminus
            sign[sign.eq(0)] = 1
        foreach.mul_(sizes, signs)
        for size in sizes:
            size.clamp_(step_size_min, step_size_max)
        for grad, sign in zip(device_grads, signs, strict=True):
            grad.copy_(torch.where(sign.eq(etaminus), 0, grad))
        grad_signs = [grad.sign() for grad in device_grads]
        foreach.addcmul_(device_params, grad_signs, sizes, value=-1)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    g = effective_grad(e, h, parts)
    (etaminus, etaplus), (low, high) = h["etas"], h["step_sizes"]
    p, size = e.was("prev"), e.was("step_size", e.lr)
    product = g * p
    flipped = product < 0
    shown = f"g·p = {num(g)} × {num(p)}"
    if product > 0:
        factor = etaplus
        parts.append(f"{shown} > 0: f = η+ = {hyper(factor)}")
    elif flipped:
        factor = etaminus
        parts.append(f"{shown} < 0: f = η− = {hyper(factor)}")
    else:
        factor = 1
        parts.append(f"{shown} = 0: f = 1")
    parts.append(
        f"Δ = clamp(Δ·f, Δ_min, Δ_max) = clamp({num(size)} × {hyper(factor)}, {hyper(low)}, "
        f"{hyper(high)}) = {num(e.state_after['step_size'])}"
    )
    if flipped:
        g = 0.0
        parts.append("g = 0 (the sign flipped: no step here now)")
    sign = (g > 0) - (g < 0)
    parts.append(
        f"θ − sign(g)·Δ = {num(e.theta)} − ({sign}) × {num(e.state_after['step_size'])} = "
        f"{num(e.theta_new)}"
    )
    return parts


def _ordered(sizes: tuple[float, float]) -> str | None:
    if sizes[0] > sizes[1]:
        return "a tuple (min, max) of numbers >= 0 with min <= max"
    return None


RPROP = Optimizer(
    name="rprop",
    torch_class="Rprop",
    summary="steps of sign(g): each element's step grows ×η+ while g keeps its sign, ×η− if not",
    lr=1e-2,
    hyperparameters=(
        Hyperparameter(
            "etas",
            (0.5, 1.2),
            Several(
                (Real(0, 1, low_open=True, high_open=True), Real(1, low_open=True)),
                metavar="MINUS,PLUS",
            ),
            "Factors (η−, η+) of the step when g flips / keeps its sign, 0 < η− < 1 < η+.",
            shorthands=("etaminus", "etaplus"),
            tested=((0.0, 1.0), (1.0, 2.0)),  # (torch's η+ is 1.2)
        ),
        Hyperparameter(
            "step_sizes",
            (1e-6, 50.0),
            Several((Real(), Real()), relation=_ordered, metavar="MIN,MAX"),
            "Bounds (Δ_min, Δ_max) of each element's step, 0 <= Δ_min <= Δ_max.",
            tested=(0.0, 1.0),
        ),
        MAXIMIZE,
    ),
    state={
        "step": "t, the number of updates",
        "prev": "p, the previous g (0 where its sign flipped)",
        "step_size": "Δ, each element's step (starts at lr)",
    },
    rule=rprop,
    foreach_rule=rprop_foreach,
    explain=explain,
    lrs={"linear": 0.01, "mlp": 0.01, "rosenbrock": 0.01},
)
OPTIMIZERS = (RPROP,)
