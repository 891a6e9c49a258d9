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
    without_weight_decay,
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

    A sparse g (``nn.Embedding(sparse=True)``; no weight decay, torch refuses it) changes s
    and θ on its entries only, duplicates summed first: there s ← s + g² and
    θ ← θ − η·g/(√s + ε), computed on the entries' values.

    State: ``step`` (t), ``sum`` (s). torch.optim.Adagrad creates them when it is
    constructed; this rule creates them at the first step, with the same values. Repeats
    torch's ``_single_tensor_adagrad``.
    """
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, state, initial_accumulator_value)
        step_t = state["step"]
        step_t += 1
        step = step_t.item()
        grad = grad if not maximize else -grad
        if weight_decay != 0:
            if grad.is_sparse:
                raise RuntimeError("weight_decay option is not compatible with sparse gradients")
            grad = grad.add(param, alpha=weight_decay)
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum = state["sum"]
        if grad.is_sparse:
            _sparse_step(param, grad, state_sum, clr, eps)
            continue
        state_sum.addcmul_(grad, grad, value=1)
        std = state_sum.sqrt().add_(eps)
        param.addcdiv_(grad, std, value=-clr)


def _sparse_step(param: Tensor, grad: Tensor, state_sum: Tensor, clr: float, eps: float) -> None:
    """torch's sparse branch: s and θ change on the entries of ``grad`` only."""
    import torch

    grad = grad.coalesce()  # the update is non-linear so indices must be unique
    indices, values = grad._indices(), grad._values()
    state_sum.add_(torch.sparse_coo_tensor(indices, values.pow(2), grad.size()))
    std_values = state_sum.sparse_mask(grad)._values().sqrt_().add_(eps)
    param.add_(torch.sparse_coo_tensor(indices, values / std_values, grad.size()), alpha=-clr)


def _start(param: Tensor, state: dict[str, Tensor], initial_accumulator_value: float) -> None:
    """torch's state (made when torch.optim.Adagrad is built; here at the first step)."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        state["sum"] = torch.full_like(
            param, initial_accumulator_value, memory_format=torch.preserve_format
        )


def adagrad_foreach(
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
    """The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype. g is multiplied by −η first, then divided by √s + ε (the for-loop
    divides with η as ``addcdiv``'s value). A group with a sparse g is stepped by the
    for-loop rule instead, all of it, as torch does. Repeats torch's
    ``_multi_tensor_adagrad``."""
    import torch

    from gradcli.private_api import foreach, group_by_device_and_dtype

    if not params:
        return
    for param, state in zip(params, states, strict=True):
        _start(param, state, initial_accumulator_value)
    grouped = group_by_device_and_dtype(
        [params, grads, [s["sum"] for s in states], [s["step"] for s in states]],
        with_indices=True,
    )
    for (device_params, device_grads, sums, steps), indices in grouped.values():
        if any(grad.is_sparse for grad in device_grads):
            adagrad(
                device_params,
                device_grads,
                [states[i] for i in indices],
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                maximize=maximize,
            )
            continue
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
        minus_clr = [-lr / (1 + (step.item() - 1) * lr_decay) for step in steps]
        foreach.addcmul_(sums, device_grads, device_grads, value=1)
        std = foreach.sqrt(sums)
        foreach.add_(std, eps)
        if weight_decay != 0 or maximize:  # g is already a copy: torch scales it in place
            foreach.mul_(device_grads, minus_clr)
            numerator = device_grads
        else:
            numerator = foreach.mul(device_grads, minus_clr)
        foreach.addcdiv_(device_params, numerator, std)


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
        Hyperparameter("lr_decay", 0.0, Real(), "Learning-rate decay >= 0.", tested=(0.0, 0.5)),
        weight_decay(),
        Hyperparameter(
            "initial_accumulator_value",
            0.0,
            Real(),
            "Starting value of the sum, >= 0.",
            tested=(0.0, 1.0),
        ),
        eps(1e-10),
        MAXIMIZE,
    ),
    state={"step": "t, the number of updates", "sum": "s, the sum of g² (per element)"},
    rule=adagrad,
    foreach_rule=adagrad_foreach,
    explain=explain,
    lrs={
        "linear": 0.5,
        "mlp": 0.1,
        "rosenbrock": 0.5,
        "embedding": 0.5,
        "beale": 0.5,
        "himmelblau": 0.5,
        "rastrigin": 0.5,
    },
    compared_by_default=True,
    gradients="both",  # torch's sparse branch, repeated in the rule
    sparse_check=without_weight_decay,
)
OPTIMIZERS = (ADAGRAD,)
