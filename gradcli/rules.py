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


Rule = Callable[..., None]
RULES: dict[str, Rule] = {"sgd": sgd}
