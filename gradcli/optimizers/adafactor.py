"""Adafactor (torch.optim.Adafactor): relative steps scaled by a factored second moment.

A matrix keeps only the running means of g² along its rows and its columns (``row_var``,
``col_var``: m + n numbers instead of m·n) and rebuilds the second moment as their outer
product; a vector keeps the full ``variance``. The step is relative to the parameter's own
size: RMS(θ)·min(lr, 1/√t), clipped where the update's RMS exceeds ``d``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    MAXIMIZE,
    Hyperparameter,
    Maybe,
    Optimizer,
    Real,
    Several,
    weight_decay,
)
from gradcli.optimizers.formula import Element, decayed_theta, effective_grad, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def adafactor(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    beta2_decay: float,
    eps: tuple[float | None, float],
    d: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g, at step t = 1, 2, ... (τ = beta2_decay,
    (ε1, ε2) = eps, ε1 = None meaning the machine epsilon of θ's dtype):

        g ← −g                                     if maximize
        β̂2 ← 1 − t^τ                               (so 1 − β̂2 = t^τ: 1 at t = 1)
        ρ ← min(lr, 1/√t)
        α ← max(ε2, RMS(θ)) · ρ                     RMS(θ) = ‖θ‖₂/√numel, before the decay
        θ ← θ·(1 − lr·λ)                            if weight_decay λ ≠ 0
        if θ has 2 or more dimensions (factored, over the last two, i rows × j columns):
            R ← R + t^τ·(mean_j g² − R)               (lerp; R: one value per row)
            C ← C + t^τ·(mean_i g² − C)               (lerp; C: one value per column)
            v̂ ← R·C / max(mean_i R, ε1)               (outer product)
        else:
            v ← v + t^τ·(g² − v),  v̂ ← v              (lerp)
        u ← g / √max(v̂, ε1²)
        θ ← θ − α / max(1, RMS(u)/d) · u

    State: ``step`` (t, a CPU scalar tensor), ``row_var`` (R) and ``col_var`` (C) for a
    matrix, ``variance`` (v) for a vector; all start at zero, created at the first step.
    lr caps the relative step ρ and scales the decay; it is not the step itself. The mean
    of g² along a row is computed as ‖g‖²/n, as torch does. Repeats torch's
    ``_single_tensor_adafactor``.
    """
    import torch

    eps1, eps2 = eps
    for param, grad, state in zip(params, grads, states, strict=True):
        _start(grad, state)
        grad = grad if not maximize else -grad
        step_t = state["step"]
        if eps1 is None:
            # torch's quirk: set from the first parameter's dtype, then kept for the rest.
            eps1 = torch.finfo(param.dtype).eps
        step_t += 1
        step = step_t.item()
        one_minus_beta2_t = step**beta2_decay
        rho_t = min(lr, 1 / (step**0.5))
        alpha = max(eps2, param.norm(2).item() / (param.numel() ** 0.5)) * rho_t
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        if grad.dim() > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            row_mean = torch.norm(grad, dim=-1, keepdim=True).square_().div_(grad.size(-1))
            row_var.lerp_(row_mean, one_minus_beta2_t)
            col_mean = torch.norm(grad, dim=-2, keepdim=True).square_().div_(grad.size(-2))
            col_var.lerp_(col_mean, one_minus_beta2_t)
            var_estimate = row_var @ col_var
            var_estimate.div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))
        else:
            variance = state["variance"]
            grad_squared = grad * grad
            variance.lerp_(grad_squared, one_minus_beta2_t)
            var_estimate = variance.clone()
        # ε1 is squared because the root comes after: √max(v̂, ε1²) = max(√v̂, ε1).
        update = var_estimate.clamp_(min=eps1 * eps1).rsqrt_()
        update.mul_(grad)
        denom = max(1.0, update.norm(2).item() / ((update.numel() ** 0.5) * d))
        param.add_(update, alpha=-alpha / denom)


def _start(grad: Tensor, state: dict[str, Tensor]) -> None:
    """torch's state at the first step: ``step`` a CPU scalar, R and C (or v) zero."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        if grad.dim() > 1:
            row_shape = list(grad.shape)
            row_shape[-1] = 1
            state["row_var"] = grad.new_zeros(row_shape)
            col_shape = list(grad.shape)
            col_shape[-2] = 1
            state["col_var"] = grad.new_zeros(col_shape)
        else:
            state["variance"] = torch.zeros_like(grad, memory_format=torch.preserve_format)


def adafactor_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    beta2_decay: float,
    eps: tuple[float | None, float],
    d: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """The same update on whole lists: one kernel per operation for all parameters of a
    device, dtype and kind (matrices and vectors apart; the means, norms and outer products
    go tensor by tensor). Rounds differently from the for-loop: u is multiplied by
    −α/max(1, RMS(u)/d) and then added to θ, where the for-loop adds it with that factor
    as ``alpha``. ε1 = None is the machine epsilon of the first group's dtype. torch.optim
    runs this only when asked (``foreach=True``), on CUDA too. Repeats torch's
    ``_multi_tensor_adafactor``."""
    import torch

    from gradcli.private_api import foreach

    if not params:
        return
    eps1, eps2 = eps
    for grad, state in zip(grads, states, strict=True):
        _start(grad, state)
    grouped = _by_kind(
        [
            params,
            grads,
            [s.get("row_var") for s in states],
            [s.get("col_var") for s in states],
            [s.get("variance") for s in states],
            [s["step"] for s in states],
        ]
    )
    for (_, dtype, is_multidim), group in grouped.items():
        device_params, device_grads, row_vars, col_vars, variances, steps = group
        if eps1 is None:
            eps1 = torch.finfo(dtype).eps
        if maximize:
            device_grads = foreach.neg(device_grads)
        if steps[0].is_cpu:
            foreach.add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
        else:
            foreach.add_(steps, 1.0)
        one_minus_beta2_ts = [s.item() ** beta2_decay for s in steps]
        rho_ts = [min(lr, 1 / (s.item() ** 0.5)) for s in steps]
        alphas = [
            max(eps2, p.norm(2).item() / (p.numel() ** 0.5)) * r
            for p, r in zip(device_params, rho_ts, strict=True)
        ]
        if weight_decay != 0:
            foreach.mul_(device_params, 1 - lr * weight_decay)
        if is_multidim:
            row_means = [torch.norm(grad, dim=-1, keepdim=True) for grad in device_grads]
            foreach.mul_(row_means, row_means)
            foreach.div_(row_means, [grad.size(-1) for grad in device_grads])
            foreach.lerp_(row_vars, row_means, one_minus_beta2_ts)
            col_means = [torch.norm(grad, dim=-2, keepdim=True) for grad in device_grads]
            foreach.mul_(col_means, col_means)
            foreach.div_(col_means, [grad.size(-2) for grad in device_grads])
            foreach.lerp_(col_vars, col_means, one_minus_beta2_ts)
            var_estimates = [r @ c for r, c in zip(row_vars, col_vars, strict=True)]
            row_var_means = [r.mean(dim=-2, keepdim=True) for r in row_vars]
            foreach.clamp_min_(row_var_means, eps1)
            foreach.div_(var_estimates, row_var_means)
        else:
            grads_squared = foreach.mul(device_grads, device_grads)
            foreach.lerp_(variances, grads_squared, one_minus_beta2_ts)
            var_estimates = [v.clone() for v in variances]
        foreach.clamp_min_(var_estimates, eps1 * eps1)
        foreach.rsqrt_(var_estimates)
        foreach.mul_(var_estimates, device_grads)
        updates = var_estimates
        alphas = [
            -a / (max(1.0, u.norm(2).item() / ((u.numel() ** 0.5) * d)))
            for a, u in zip(alphas, updates, strict=True)
        ]
        foreach.mul_(updates, alphas)
        foreach.add_(device_params, updates)


def _by_kind(tensorlists: list[list[Any]]) -> dict[tuple[Any, Any, bool], list[list[Any]]]:
    """torch's groups for Adafactor (``_group_tensors_by_device_dtype_and_is_multidim``):
    by device and dtype, then matrices (2 or more dimensions of g) apart from vectors."""
    from gradcli.private_api import group_by_device_and_dtype

    kinds: dict[tuple[Any, Any, bool], list[list[Any]]] = {}
    for (device, dtype), (lists, _) in group_by_device_and_dtype(tensorlists).items():
        for j, grad in enumerate(lists[1]):
            mine = kinds.setdefault((device, dtype, grad.dim() > 1), [[] for _ in lists])
            for into, whole in zip(mine, lists, strict=True):
                into.append(whole[j])
    return kinds


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    g = effective_grad(e, h, parts, decoupled=True)
    tau, (eps1, eps2), d, t = float(h["beta2_decay"]), h["eps"], float(h["d"]), e.step
    w = t**tau
    rho = min(e.lr, 1 / t**0.5)
    parts.append(f"1 − β̂2 = t^τ = {t}^{hyper(tau)} = {num(w)}")
    parts.append(f"ρ = min(lr, 1/√t) = min({hyper(e.lr)}, 1/√{t}) = {num(rho)}")
    theta = decayed_theta(e, float(h["weight_decay"]), parts)
    floor = "ε1" if eps1 is None else hyper(float(eps1))
    if "variance" in e.state_after:
        v = e.state_after["variance"]
        parts.append(
            f"v = v + t^τ·(g² − v) = {num(e.was('variance'))} + {num(w)} × ({num(g)}² − "
            f"{num(e.was('variance'))}) = {num(v)}"
        )
        u = g / max(math.sqrt(v), 0.0 if eps1 is None else float(eps1)) if v else 0.0
        parts.append(f"u = g/max(√v, ε1) = {num(g)}/max(√{num(v)}, {floor}) = {num(u)}")
        if u != 0:
            # α and the clipping depend on the whole tensor: the step size is read back.
            eta = (theta - e.theta_new) / u
            parts.append(
                f"η = max(ε2, RMS(θ))·ρ/max(1, RMS(u)/d) = max({hyper(float(eps2))}, "
                f"RMS(θ)) × {num(rho)}/max(1, RMS(u)/{hyper(d)}) = {num(eta)}"
            )
            parts.append(f"θ − η·u = {num(theta)} − {num(eta)} × {num(u)} = {num(e.theta_new)}")
            return parts
    else:
        for key, label, mean in (("row_var", "R", "mean_j g²"), ("col_var", "C", "mean_i g²")):
            before, after = e.was(key), e.state_after[key]
            # The mean of g² over the row (column) is read back from the lerp: w > 0.
            parts.append(
                f"{label} = {label} + t^τ·({mean} − {label}) = {num(before)} + {num(w)} × "
                f"({num(before + (after - before) / w)} − {num(before)}) = {num(after)}"
            )
        parts.append(
            f"v̂ = R·C/max(mean_i R, {floor}), u = g/max(√v̂, {floor}), "
            f"α = max({hyper(float(eps2))}, RMS(θ))·ρ over the whole matrix"
        )
    # The rest depends on the whole tensor (RMS(θ), RMS(u), mean R): the step is read back.
    parts.append(
        f"θ − α·u/max(1, RMS(u)/{hyper(d)}) = {num(theta)} − {num(theta - e.theta_new)} = "
        f"{num(e.theta_new)}"
    )
    return parts


class _AtMost(Real):
    """A finite number <= high (torch's ``beta2_decay <= 0``)."""

    def describe(self) -> str:
        return f"a finite number <= {self.high:g}"


ADAFACTOR = Optimizer(
    name="adafactor",
    torch_class="Adafactor",
    summary="relative steps RMS(θ)·min(lr, 1/√t) along g/√v̂, v̂ factored into rows × columns",
    lr=1e-2,
    hyperparameters=(
        Hyperparameter(
            "beta2_decay",
            -0.8,
            _AtMost(-math.inf, 0.0),
            "Decay τ <= 0 of the second-moment schedule: β̂2 = 1 − t^τ.",
            tested=(-1.0, 0.0),
        ),
        Hyperparameter(
            "eps",
            (None, 1e-3),
            Several((Maybe(Real()), Real()), metavar="EPS1,EPS2"),
            "(ε1, ε2): ε1 floors √v̂ (None: the dtype's machine epsilon), ε2 floors RMS(θ).",
            tested=(1e-10, 1e-3),
        ),
        Hyperparameter(
            "d", 1.0, Real(1.0), "Clipping threshold d >= 1 on RMS(u).", tested=(1.0, 4.0)
        ),
        weight_decay(),
        MAXIMIZE,
    ),
    state={
        "step": "t, the number of updates (a CPU scalar tensor)",
        "row_var": "R, the running mean of g² along each row (2 or more dimensions)",
        "col_var": "C, the running mean of g² along each column (2 or more dimensions)",
        "variance": "v, the running mean of g² (vectors and scalars)",
    },
    rule=adafactor,
    foreach_rule=adafactor_foreach,
    foreach_by_default=False,
    explain=explain,
    lrs={"linear": 0.3, "mlp": 0.1, "rosenbrock": 0.3},
)
OPTIMIZERS = (ADAFACTOR,)
