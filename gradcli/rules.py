"""Hand-written update rules: one pure function per optimizer.

Each rule changes ``params`` in place from ``grads`` and an explicit per-parameter ``states``
dict (keys named as in ``torch.optim``'s ``optimizer.state``), with hyperparameters as
keyword-only arguments. Each repeats torch's single-tensor implementation
(``torch/optim/<name>.py``, ``_single_tensor_<name>``) operation by operation, in the same
order, so the manual path and ``torch.optim`` agree bit for bit. Call them under
``torch.no_grad()``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

State = dict[str, Tensor]


def sgd(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[State],
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> None:
    r"""Stochastic gradient descent, optionally with momentum (torch.optim.SGD).

    For each parameter θ with gradient g at step t:

        g ← −g                              if maximize
        g ← g + λ·θ                          if weight_decay λ ≠ 0
        if momentum μ ≠ 0:
            b ← g                            at t = 1 (no dampening on the first step)
            b ← μ·b + (1 − τ)·g              afterwards (dampening τ)
            g ← g + μ·b                      if nesterov
            g ← b                            otherwise
        θ ← θ − lr·g

    State: ``momentum_buffer`` (b), only when μ ≠ 0.
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


def _scalar_dtype() -> torch.dtype:
    # torch.optim keeps "step" as a CPU scalar tensor of this dtype (_get_scalar_dtype).
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _adam(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[State],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    for param, grad, state in zip(params, grads, states, strict=True):
        if not state:
            state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
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


def adam(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[State],
    *,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
) -> None:
    r"""Adam (torch.optim.Adam), with L2 weight decay added to the gradient.

    For each parameter θ with gradient g, at step t = 1, 2, ...:

        g ← −g                                   if maximize
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        m ← m + (1 − β1)·(g − m)                  (lerp: β1·m + (1 − β1)·g)
        v ← β2·v + (1 − β2)·g²
        v_max ← max(v_max, v)                     if amsgrad, and v ← v_max below
        θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)

    State: ``step`` (t, a CPU scalar tensor), ``exp_avg`` (m), ``exp_avg_sq`` (v),
    ``max_exp_avg_sq`` (v_max, amsgrad only); m, v start at zero.
    """
    _adam(
        params,
        grads,
        states,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=False,
    )


def adamw(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[State],
    *,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
) -> None:
    r"""AdamW (torch.optim.AdamW): Adam with decoupled weight decay.

    As ``adam``, except that weight decay shrinks the parameter directly instead of
    entering the gradient (and so the moments):

        θ ← θ · (1 − lr·λ)                        before the moment updates
        m, v, θ as in adam, with the undecayed g

    torch's default λ is 0.01 here (0 for Adam). State as in ``adam``.
    """
    _adam(
        params,
        grads,
        states,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=True,
    )


def rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[State],
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
) -> None:
    r"""RMSprop (torch.optim.RMSprop).

    For each parameter θ with gradient g:

        g ← −g                                   if maximize
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        v ← α·v + (1 − α)·g²
        ḡ ← ḡ + (1 − α)·(g − ḡ)                   if centered (lerp)
        d ← √(v − ḡ²) + ε  if centered,  else  √v + ε
        b ← μ·b + g / d,  θ ← θ − lr·b            if momentum μ > 0
        θ ← θ − lr · g / d                        otherwise

    State: ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, if μ > 0),
    ``grad_avg`` (ḡ, if centered); all start at zero.
    """
    for param, grad, state in zip(params, grads, states, strict=True):
        if not state:
            state["step"] = torch.zeros((), dtype=_scalar_dtype())
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


def adagrad(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[State],
    *,
    lr: float,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
) -> None:
    r"""Adagrad (torch.optim.Adagrad).

    For each parameter θ with gradient g, at step t = 1, 2, ...:

        g ← −g                                   if maximize
        g ← g + λ·θ                               if weight_decay λ ≠ 0
        η ← lr / (1 + (t − 1)·lr_decay)
        s ← s + g²                                (s starts at initial_accumulator_value)
        θ ← θ − η · g / (√s + ε)

    State: ``step`` (t), ``sum`` (s). torch.optim.Adagrad creates them when it is
    constructed; this rule creates them at the first step, with the same values.
    """
    for param, grad, state in zip(params, grads, states, strict=True):
        if not state:
            state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
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


Rule = Callable[..., None]
RULES: dict[str, Rule] = {
    "sgd": sgd,
    "adam": adam,
    "adamw": adamw,
    "rmsprop": rmsprop,
    "adagrad": adagrad,
}
