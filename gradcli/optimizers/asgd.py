"""ASGD (torch.optim.ASGD): averaged SGD, which keeps a running average of the parameters
as state beside a decaying-step SGD."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    MAXIMIZE,
    Hyperparameter,
    Optimizer,
    Real,
    weight_decay,
)
from gradcli.optimizers.formula import Element, effective_grad, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def asgd(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    lambd: float,
    alpha: float,
    t0: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g, at step t = 1, 2, ...:

        g ← −g                                   if maximize
        g ← g + λ_w·θ                             if weight_decay λ_w ≠ 0
        θ ← θ·(1 − λ·η) − η·g                     (η = lr at t = 1)
        ā ← θ                                     if μ = 1
        ā ← ā + μ·(θ − ā)                         otherwise
        η ← lr / (1 + λ·lr·t)^α                   for the next step
        μ ← 1 / max(1, t − t0)                    for the next step

    The average ā (``ax``) is state only: the parameters trained, printed and scored are θ,
    never the average. To evaluate the averaged model, copy ``ax`` into the parameters
    yourself, as with torch.optim.ASGD. State: ``step`` (t), ``eta`` (η), ``mu`` (μ), all
    scalar tensors on the parameter's device, and ``ax`` (ā, starting at zero). Repeats
    torch's ``_single_tensor_asgd``.
    """
    import torch

    for param, grad, state in zip(params, grads, states, strict=True):
        _start(param, state, lr)
        grad = grad if not maximize else -grad
        mu, ax, eta, step_t = state["mu"], state["ax"], state["eta"], state["step"]
        step_t += 1
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        # η is read back from its scalar tensor, so it is rounded to that dtype (float32
        # unless the default dtype is float64) before it scales anything.
        eta_value = eta.item()
        # λ decays the parameters themselves, besides slowing η below.
        param.mul_(1 - lambd * eta_value)
        param.add_(grad, alpha=-eta_value)
        # With μ = 1 (every step up to t0 + 1) the average is a plain copy of θ; with
        # torch's t0 = 1e6 that is every step of any ordinary run.
        if mu.item() != 1:
            ax.add_(param.sub(ax).mul_(mu))
        else:
            ax.copy_(param)
        # η and μ are recomputed from t each step (in Python floats), not decayed in place.
        step = step_t.item()
        new_eta = torch.as_tensor(lr / ((1 + lambd * lr * step) ** alpha))
        eta.copy_(new_eta)
        new_mu = torch.as_tensor(1 / max(1, step - t0))
        mu.copy_(new_mu)


def _start(param: Tensor, state: dict[str, Tensor], lr: float) -> None:
    """torch's state at the first step."""
    import torch

    from gradcli.optimizers._scalars import scalar_dtype

    if not state:
        # Unlike most optimizers, ASGD keeps its scalars on the parameter's device.
        state["step"] = torch.zeros((), device=param.device, dtype=scalar_dtype())
        state["eta"] = (
            torch.as_tensor(lr, device=param.device, dtype=scalar_dtype()).clone().detach()
        )
        state["mu"] = torch.ones((), device=param.device, dtype=scalar_dtype())
        state["ax"] = torch.zeros_like(param, memory_format=torch.preserve_format)


def asgd_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    lambd: float,
    alpha: float,
    t0: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype. Rounds differently from the for-loop:

        θ ← θ − η·(g + λ·θ)                       (η the scalar tensor, not η.item())
        ā ← ā + μ·(θ − ā)                         also while μ = 1 (no copy)
        η ← lr / (1 + λ·lr·t)^α                    computed on t as a tensor (its dtype)

    Repeats torch's ``_multi_tensor_asgd``."""
    import torch

    from gradcli.private_api import foreach, group_by_device_and_dtype

    if not params:
        return
    for param, state in zip(params, states, strict=True):
        _start(param, state, lr)
    grouped = group_by_device_and_dtype(
        [
            params,
            grads,
            [s["ax"] for s in states],
            [s["mu"] for s in states],
            [s["eta"] for s in states],
            [s["step"] for s in states],
        ]
    )
    for (device, _), (group, _) in grouped.items():
        device_params, device_grads, axs, mus, etas, steps = group
        if maximize:
            device_grads = foreach.neg(device_grads)
        if steps[0].is_cpu:
            foreach.add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
        else:
            foreach.add_(steps, 1)
        if weight_decay != 0:
            if maximize:
                foreach.add_(device_grads, device_params, alpha=weight_decay)
                intermediate = device_grads
            else:
                intermediate = foreach.add(device_grads, device_params, alpha=weight_decay)
            foreach.add_(intermediate, device_params, alpha=lambd)
        else:
            intermediate = foreach.add(device_grads, device_params, alpha=lambd)
        foreach.addcmul_(device_params, intermediate, etas, value=-1)
        intermediate = foreach.sub(device_params, axs)
        foreach.addcmul_(axs, intermediate, mus)
        # (1 + λ·lr·t)^α with t the step tensor: tensor arithmetic, in the step's dtype
        new_etas = [
            torch.as_tensor(lr / ((1 + lambd * lr * step) ** alpha), device=device)
            for step in steps
        ]
        new_mus = [torch.as_tensor(1 / max(1, step.item() - t0), device=device) for step in steps]
        foreach.copy_(etas, new_etas)
        foreach.copy_(mus, new_mus)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    g = effective_grad(e, h, parts)
    lambd, alpha, t0, t = float(h["lambd"]), float(h["alpha"]), float(h["t0"]), e.step
    eta, mu = e.was("eta", e.lr), e.was("mu", 1.0)
    ax = e.state_after["ax"]
    if mu == 1:
        parts.append(f"ā = θ′ (μ = 1) = {num(ax)}")
    else:
        parts.append(
            f"ā = ā + μ·(θ′ − ā) = {num(e.was('ax'))} + {num(mu)} × ({num(e.theta_new)} − "
            f"{num(e.was('ax'))}) = {num(ax)}"
        )
    parts.append(
        f"next η = lr/(1 + λ·lr·t)^α = {hyper(e.lr)}/(1 + {hyper(lambd)} × {hyper(e.lr)} × "
        f"{t})^{hyper(alpha)} = {num(e.state_after['eta'])}"
    )
    parts.append(
        f"next μ = 1/max(1, t − t0) = 1/max(1, {t} − {hyper(t0)}) = {num(e.state_after['mu'])}"
    )
    parts.append(
        f"θ′ = θ·(1 − λ·η) − η·g = {num(e.theta)} × (1 − {hyper(lambd)} × {num(eta)}) − "
        f"{num(eta)} × {num(g)} = {num(e.theta_new)}"
    )
    return parts


ASGD = Optimizer(
    name="asgd",
    torch_class="ASGD",
    summary="SGD with a decaying step that also keeps ā, a running average of θ, as state",
    lr=1e-2,
    hyperparameters=(
        Hyperparameter(
            "lambd", 1e-4, Real(), "Decay λ >= 0 of θ and of the step η.", tested=(0.0, 0.5)
        ),
        Hyperparameter(
            "alpha", 0.75, Real(), "Power α >= 0 in η = lr/(1 + λ·lr·t)^α.", tested=(0.5, 0.999)
        ),
        # (tested mostly below 50 steps, so the averaging (μ < 1) runs too)
        Hyperparameter(
            "t0", 1e6, Real(), "Step t0 >= 0 after which θ is averaged.", tested=(0.0, 60.0)
        ),
        weight_decay(),
        MAXIMIZE,
    ),
    state={
        "step": "t, the number of updates",
        "eta": "η, the step size of the next update",
        "mu": "μ, the averaging weight of the next update (1 until t0 + 1)",
        "ax": "ā, the running average of θ (state only: θ is never replaced by it)",
    },
    rule=asgd,
    foreach_rule=asgd_foreach,
    explain=explain,
    lrs={"linear": 0.1, "mlp": 1.0, "rosenbrock": 0.0005},
)
OPTIMIZERS = (ASGD,)
