"""SparseAdam (torch.optim.SparseAdam): Adam masked to the entries a sparse gradient holds.

It takes sparse gradients only, the kind ``nn.Embedding(sparse=True)`` gives: the rows that
were looked up. Only those rows' moments and values change; every other row keeps its m, v
and θ, where Adam would decay the moments of all rows and move them all. ``gradcli -m
embedding`` is the built-in problem with such a gradient.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    BETAS,
    MAXIMIZE,
    Hyperparameter,
    Optimizer,
    Real,
)
from gradcli.optimizers.formula import Element, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def sparseadam(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Any]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    maximize: bool,
) -> None:
    r"""For each parameter θ with sparse gradient g (duplicate indices summed), at step t, on
    the entries g holds only:

        g ← −g                                   if maximize
        m ← m + (1 − β1)·(g − m)
        v ← v + (1 − β2)·(g² − v)
        θ ← θ − (lr·√(1 − β2ᵗ)/(1 − β1ᵗ)) · m/(√v + ε)

    Every other entry keeps its m, v and θ. Unlike Adam, ε is added to √v itself, before
    the bias correction (which sits in the step size). State: ``step`` (t, a Python int,
    counted even when g holds no entry), ``exp_avg`` (m), ``exp_avg_sq`` (v), dense, zero at
    first. Repeats torch's ``SparseAdam.step`` and ``_functional.sparse_adam``.
    """
    import torch

    beta1, beta2 = betas
    for param, grad, state in zip(params, grads, states, strict=True):
        if not grad.is_sparse:
            raise RuntimeError(
                "SparseAdam does not support dense gradients, please consider Adam instead"
            )
        if len(state) == 0:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["step"] += 1
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

        grad = grad if not maximize else -grad
        grad = grad.coalesce()  # the update is non-linear: one value per index
        grad_indices = grad._indices()
        grad_values = grad._values()
        if grad_values.numel() == 0:
            continue  # nothing looked up: nothing changes (the step still counts)
        make_sparse = partial(_make_sparse, grad, grad_indices)
        # m ← m + (1 − β1)·(g − m) and v ← v + (1 − β2)·(g² − v), on g's entries
        old_exp_avg_values = exp_avg.sparse_mask(grad)._values()
        exp_avg_update_values = grad_values.sub(old_exp_avg_values).mul_(1 - beta1)
        exp_avg.add_(make_sparse(exp_avg_update_values))
        old_exp_avg_sq_values = exp_avg_sq.sparse_mask(grad)._values()
        exp_avg_sq_update_values = grad_values.pow(2).sub_(old_exp_avg_sq_values).mul_(1 - beta2)
        exp_avg_sq.add_(make_sparse(exp_avg_sq_update_values))

        # the new m and v on those entries, added densely again (no second sparse_mask)
        numer = exp_avg_update_values.add_(old_exp_avg_values)
        exp_avg_sq_update_values.add_(old_exp_avg_sq_values)
        denom = exp_avg_sq_update_values.sqrt_().add_(eps)
        del exp_avg_update_values, exp_avg_sq_update_values

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr * math.sqrt(bias_correction2) / bias_correction1
        param.add_(make_sparse(-step_size * numer.div_(denom)))


def _make_sparse(grad: Tensor, indices: Tensor, values: Tensor) -> Tensor:
    """A sparse tensor like ``grad`` with ``values`` at its ``indices`` (torch's way)."""
    if indices.dim() == 0 or values.dim() == 0:
        return grad.new().resize_as_(grad)
    return grad.new(indices, values, grad.size())


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    (beta1, beta2), eps, t = h["betas"], float(h["eps"]), e.step
    m, v = e.state_after["exp_avg"], e.state_after["exp_avg_sq"]
    m_before, v_before = e.was("exp_avg"), e.was("exp_avg_sq")
    if m == m_before and v == v_before and e.theta_new == e.theta:
        return [
            f"no entry of the sparse gradient here (row not looked up): m, v and θ stay; "
            f"θ = {num(e.theta_new)}"
        ]
    parts: list[str] = []
    g = e.grad
    if h.get("maximize"):
        g = -g
        parts.append(f"g = −g = {num(g)}")
    parts.append(
        f"m = m + (1 − β1)·(g − m) = {num(m_before)} + {hyper(1 - beta1)} × "
        f"({num(g)} − {num(m_before)}) = {num(m)}"
    )
    parts.append(
        f"v = v + (1 − β2)·(g² − v) = {num(v_before)} + {hyper(1 - beta2)} × "
        f"({num(g)}² − {num(v_before)}) = {num(v)}"
    )
    parts.append(
        f"θ − lr·√(1 − β2^t)/(1 − β1^t) · m/(√v + ε) = {num(e.theta)} − {hyper(e.lr)} × "
        f"√(1 − {hyper(beta2)}^{t})/(1 − {hyper(beta1)}^{t}) × {num(m)}/(√{num(v)} + "
        f"{hyper(eps)}) = {num(e.theta_new)}"
    )
    return parts


def _positive_lr(h: dict[str, Any]) -> str | None:
    lr = h.get("lr")
    if lr is not None and not lr > 0:
        return f"lr must be > 0 (torch's rule), got {lr:g}"
    return None


SPARSEADAM = Optimizer(
    name="sparseadam",
    torch_class="SparseAdam",
    summary="Adam on the entries of a sparse gradient only (nn.Embedding(sparse=True))",
    lr=1e-3,
    hyperparameters=(
        BETAS,
        Hyperparameter(
            "eps", 1e-8, Real(0, low_open=True), "Term ε > 0 added to √v.", tested=(1e-10, 1e-3)
        ),
        MAXIMIZE,
    ),
    state={
        "step": "t, the number of updates (a Python int)",
        "exp_avg": "m, the first moment (changed only where g has entries)",
        "exp_avg_sq": "v, the second moment (changed only where g has entries)",
    },
    rule=sparseadam,
    explain=explain,
    lrs={"embedding": 0.1},
    check=_positive_lr,
    foreach_by_default=False,
    gradients="sparse",
    problem="embedding",
)
OPTIMIZERS = (SPARSEADAM,)
