"""Gradient clipping between backward and the update, by hand and with torch.

By the total norm (``torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)``)::

    n_i   = ‖g_i‖_p                       each gradient's p-norm (torch._foreach_norm)
    N     = ‖(n_1, …, n_k)‖_p              the total norm, as if all were one vector
    c     = min(max_norm / (N + 1e-6), 1)  the clip coefficient (torch's 1e-6 guards N = 0)
    g_i  ← c·g_i                           every gradient, also when c = 1

By value (``torch.nn.utils.clip_grad_value_(params, clip_value)``)::

    g ← min(max(g, −V), V)                 element by element

``clip_by_hand`` repeats torch's operations in torch's order, grouped as torch groups them (by
device and dtype, in the order torch's grouping gives, which is not the order the gradients
come in; foreach kernels), so the clipped gradients are the same bits. Both return what the
records show: the
total norm before clipping (the 2-norm with ``--clip-value``) and whether the clip fired
(``c < 1``, or some |g| > V), as tensors on the device: reading them costs a sync, which only a
shown step pays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gradcli.private_api import group_by_device_and_dtype
from gradcli.spec import RunSpec

EPS = 1e-6  # torch's, in max_norm / (total_norm + 1e-6)


@dataclass(frozen=True)
class Clipping:
    """``--clip-norm MAX [--norm-type P]`` or ``--clip-value V``."""

    max_norm: float | None = None
    norm_type: float = 2.0
    clip_value: float | None = None

    @classmethod
    def of(cls, spec: RunSpec) -> Clipping | None:
        if spec.clip_norm is None and spec.clip_value is None:
            return None
        norm_type = 2.0 if spec.norm_type is None else float(spec.norm_type)
        return cls(spec.clip_norm, norm_type, spec.clip_value)

    def describe(self) -> str:
        if self.max_norm is not None:
            p = "inf" if math.isinf(self.norm_type) else f"{self.norm_type:g}"
            return f"clip_grad_norm_(max_norm={self.max_norm:g}, norm_type={p})"
        return f"clip_grad_value_(clip_value={self.clip_value:g})"


@dataclass(frozen=True)
class Clipped:
    """One step's clipping: the total norm before it, and whether it changed a gradient."""

    grad_norm: Tensor  # 0-d, on the device
    fired: Tensor  # 0-d bool, on the device
    coefficient: Tensor | None = None  # c, by norm only


def _groups(grads: list[Tensor]) -> list[list[Tensor]]:
    """One list per (device, dtype), in torch's order (it decides the order of the norms)."""
    grouped = group_by_device_and_dtype([list(grads)])
    return [lists[0] for lists, _ in grouped.values()]  # type: ignore[misc]


def total_norm(grads: list[Tensor], norm_type: float) -> Tensor:
    """N = ‖(‖g_1‖_p, …, ‖g_k‖_p)‖_p, as ``torch.nn.utils.get_total_norm``."""
    if not grads:
        return torch.tensor(0.0)
    first_device = grads[0].device
    norms: list[Tensor] = []
    for group in _groups(grads):
        norms.extend(torch._foreach_norm(group, norm_type))
    return torch.linalg.vector_norm(torch.stack([n.to(first_device) for n in norms]), norm_type)


def _largest(grads: list[Tensor]) -> Tensor:
    return torch.stack([g.detach().abs().amax().to(grads[0].device) for g in grads]).amax()


@torch.no_grad()
def clip_by_hand(params: list[Tensor], clipping: Clipping) -> Clipped | None:
    """Clip the gradients of ``params`` in place, repeating torch's arithmetic."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    if clipping.max_norm is not None:
        norm = total_norm(grads, clipping.norm_type)
        coefficient = clipping.max_norm / (norm + EPS)
        clamped = torch.clamp(coefficient, max=1.0)
        for group in _groups(grads):
            torch._foreach_mul_(group, clamped.to(group[0].device))
        return Clipped(norm, clamped < 1.0, clamped)
    assert clipping.clip_value is not None
    norm = total_norm(grads, 2.0)
    fired = _largest(grads) > clipping.clip_value
    for group in _groups(grads):
        torch._foreach_clamp_min_(group, -clipping.clip_value)
        torch._foreach_clamp_max_(group, clipping.clip_value)
    return Clipped(norm, fired)


@torch.no_grad()
def clip_with_torch(params: list[Tensor], clipping: Clipping) -> Clipped | None:
    """Clip the gradients of ``params`` in place with ``torch.nn.utils``."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    if clipping.max_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, clipping.max_norm, clipping.norm_type)
        # torch returns N only; c is recomputed the way torch computed it, for the record
        clamped = torch.clamp(clipping.max_norm / (norm + EPS), max=1.0)
        return Clipped(norm, clamped < 1.0, clamped)
    assert clipping.clip_value is not None
    norm = torch.nn.utils.get_total_norm(grads, 2.0)
    fired = _largest(grads) > clipping.clip_value
    torch.nn.utils.clip_grad_value_(params, clipping.clip_value)
    return Clipped(norm, fired)


def explain(clipping: Clipping, grad_norm: float, fired: bool, coefficient: float | None) -> str:
    """The ``--explain`` line of one step's clipping, with its numbers."""
    if clipping.max_norm is not None:
        p = "∞" if math.isinf(clipping.norm_type) else f"{clipping.norm_type:g}"
        assert coefficient is not None
        effect = "g ← c·g: clipped" if fired else "c = 1: the gradients stay as they are"
        return (
            f"clip: N = ‖g‖_{p} = {grad_norm:.6g}; c = min(max_norm/(N + 1e-6), 1) = "
            f"min({clipping.max_norm:g}/({grad_norm:.6g} + 1e-6), 1) = {coefficient:.6g}; "
            f"{effect}"
        )
    v = f"{clipping.clip_value:g}"
    effect = "some elements clipped" if fired else "no element was beyond ±" + v
    return f"clip: g ← min(max(g, −{v}), {v}); ‖g‖₂ before = {grad_norm:.6g}; {effect}"
