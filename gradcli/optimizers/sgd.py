"""SGD: stochastic gradient descent, optionally with momentum (torch.optim.SGD)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    MAXIMIZE,
    Flag,
    Hyperparameter,
    Optimizer,
    Real,
    weight_decay,
    without_weight_decay,
)
from gradcli.optimizers.formula import Element, effective_grad, hyper, num

if TYPE_CHECKING:
    from torch import Tensor


def sgd(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    r"""For each parameter θ with gradient g at step t:

        g ← −g                              if maximize
        g ← g + λ·θ                          if weight_decay λ ≠ 0
        if momentum μ ≠ 0:
            b ← g                            at t = 1 (no dampening on the first step)
            b ← μ·b + (1 − τ)·g              afterwards (dampening τ)
            g ← g + μ·b                      if nesterov
            g ← b                            otherwise
        θ ← θ − lr·g

    State: ``momentum_buffer`` (b), only when μ ≠ 0. Repeats torch's ``_single_tensor_sgd``.
    """
    for param, grad, state in zip(params, grads, states, strict=True):
        grad = grad if not maximize else -grad
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # torch's quirk: the buffer starts at the first gradient, not at zero,
                # so dampening is skipped on the first step.
                buf = grad.detach().clone()
                state["momentum_buffer"] = buf
            else:
                buf.mul_(momentum).add_(grad, alpha=1 - dampening)
            grad = grad.add(buf, alpha=momentum) if nesterov else buf
        param.add_(grad, alpha=-lr)


def sgd_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """The same update on whole lists: one kernel per operation for all parameters of a
    device and dtype. While any buffer is still missing (the first step), the buffers are
    started and updated one by one, as torch does; so is θ where a g is sparse. With
    Nesterov momentum and neither maximize nor weight decay, g + μ·b is written into the
    gradient tensors themselves, as torch does. Repeats torch's ``_multi_tensor_sgd``."""
    from gradcli.private_api import foreach, group_by_device_and_dtype

    if not params:
        return
    buffers = [state.get("momentum_buffer") for state in states]
    grouped = group_by_device_and_dtype([params, grads, buffers], with_indices=True)
    for (device_params, device_grads, device_buffers), indices in grouped.values():
        sparse = any(grad.is_sparse for grad in device_grads)  # no foreach kernel for those
        if maximize:
            device_grads = foreach.neg(device_grads)
        if weight_decay != 0:
            # torch reuses the negated copy where there is one, else makes a new list
            if maximize:
                foreach.add_(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = foreach.add(device_grads, device_params, alpha=weight_decay)
        if momentum != 0:
            if all(buf is not None for buf in device_buffers):
                bufs = device_buffers
                foreach.mul_(bufs, momentum)
                foreach.add_(bufs, device_grads, alpha=1 - dampening)
            else:
                bufs = []
                for i, buf in enumerate(device_buffers):
                    if buf is None:
                        buf = device_grads[i].detach().clone()
                        states[indices[i]]["momentum_buffer"] = buf
                    else:
                        buf.mul_(momentum).add_(device_grads[i], alpha=1 - dampening)
                    bufs.append(buf)
            if nesterov:
                foreach.add_(device_grads, bufs, alpha=momentum)
            else:
                device_grads = bufs
        if sparse:
            for param, grad in zip(device_params, device_grads, strict=True):
                param.add_(grad, alpha=-lr)
        else:
            foreach.add_(device_params, device_grads, alpha=-lr)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    g = effective_grad(e, h, parts)
    momentum, dampening = float(h["momentum"]), float(h["dampening"])
    direction, label = g, "g"
    if momentum != 0:
        b = e.state_after["momentum_buffer"]
        if "momentum_buffer" not in e.state_before:
            parts.append(f"b = g = {num(b)} (first step: the buffer starts at g)")
        else:
            parts.append(
                f"b = μ·b + (1 − τ)·g = {hyper(momentum)} × "
                f"{num(e.state_before['momentum_buffer'])} + {hyper(1 - dampening)} × "
                f"{num(g)} = {num(b)}"
            )
        direction, label = b, "b"
        if h["nesterov"]:
            direction = g + momentum * b
            parts.append(
                f"d = g + μ·b = {num(g)} + {hyper(momentum)} × {num(b)} = {num(direction)}"
            )
            label = "d"
    parts.append(
        f"θ − lr·{label} = {num(e.theta)} − {hyper(e.lr)} × {num(direction)} = {num(e.theta_new)}"
    )
    return parts


def _nesterov_needs_momentum(h: dict[str, Any]) -> str | None:
    if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
        return (
            "nesterov needs momentum > 0 and dampening 0 (torch's rule), "
            f"got momentum {h['momentum']:g} and dampening {h['dampening']:g}"
        )
    return None


SGD = Optimizer(
    name="sgd",
    torch_class="SGD",
    summary="gradient descent: θ ← θ − lr·g, optionally with (Nesterov) momentum",
    lr=1e-3,
    hyperparameters=(
        Hyperparameter(
            "momentum",
            0.0,
            Real(0, 1, high_open=True),
            "Momentum μ in [0, 1).",
            tested=(0.0, 0.95),
        ),
        Hyperparameter("dampening", 0.0, Real(0, 1), "Dampening τ in [0, 1]."),
        weight_decay(),
        Hyperparameter("nesterov", False, Flag(), "Nesterov momentum (needs μ > 0, τ = 0)."),
        MAXIMIZE,
    ),
    state={"momentum_buffer": "b, the velocity (only with momentum; starts at the first g)"},
    rule=sgd,
    foreach_rule=sgd_foreach,
    explain=explain,
    lrs={
        "linear": 0.1,
        "mlp": 1.0,
        "rosenbrock": 0.001,
        "embedding": 1.0,
        "beale": 0.01,
        "himmelblau": 0.01,
        "rastrigin": 0.001,
    },
    check=_nesterov_needs_momentum,
    compared_by_default=True,
    gradients="both",  # a sparse g (and so b) works as it is, without weight decay
    sparse_check=without_weight_decay,
)
OPTIMIZERS = (SGD,)
