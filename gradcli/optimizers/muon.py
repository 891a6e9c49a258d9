"""Muon (torch.optim.Muon): momentum, orthogonalised by a Newton–Schulz iteration, for the
2-D parameters (the weight matrices).

torch.optim.Muon refuses any parameter that is not 2-D, and its documentation says to train
the others (biases, embeddings, a lone vector) with a standard method such as AdamW. gradcli
does exactly that, on both paths: the 2-D parameters go to Muon, every other parameter to
AdamW at torch's defaults (β = (0.9, 0.999), ε = 1e-8, λ = 0.01) with the same lr. The
hand-written path steps this module's rule and gradcli's ``adamw`` rule; the torch.optim path
steps ``torch.optim.Muon`` and ``torch.optim.AdamW``; so the two still agree bit for bit, and
the state of each parameter is the state of the optimizer that trains it. A model with no 2-D
parameter (``-m rosenbrock``, ``-m seed``) is trained by AdamW alone. Muon has only its
single-tensor loop: ``--impl foreach`` reaches the AdamW part only, on both paths (``manual``
steps gradcli's ``adamw_foreach`` there), and so does torch's default foreach on CUDA.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    Choice,
    Flag,
    Hyperparameter,
    Integer,
    Optimizer,
    Real,
    Several,
    weight_decay,
)
from gradcli.optimizers.formula import Element, as_used, decayed_theta, hyper, num

if TYPE_CHECKING:
    from torch import Tensor

# torch's constants, from Keller Jordan's Muon: a quintic whose slope at 0 is as large as
# possible, so that 5 steps bring every singular value into roughly [0.7, 1.2].
COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(
    grad: Tensor, ns_coefficients: tuple[float, float, float], ns_steps: int, eps: float
) -> Tensor:
    r"""An approximately orthogonal matrix with the singular vectors of ``grad``, in bfloat16
    (torch's ``_zeropower_via_newtonschulz``): with (a, b, c) = ns_coefficients,

        X ← bfloat16(G),  transposed if G has more rows than columns (so that A is small)
        X ← X / max(‖X‖_F, ε)                     (every singular value now <= 1)
        k times:  A ← X·Xᵀ,  X ← a·X + (b·A + c·A²)·X
        transposed back if it was

    Each step maps every singular value σ to a·σ + b·σ³ + c·σ⁵; torch's coefficients push
    small σ up fast and leave them oscillating in about [0.7, 1.2] rather than at 1.
    """
    import torch

    a, b, c = ns_coefficients
    ortho_grad = grad.bfloat16()
    if grad.size(0) > grad.size(1):
        ortho_grad = ortho_grad.T
    ortho_grad.div_(ortho_grad.norm().clamp(min=eps))
    for _ in range(ns_steps):
        gram_matrix = ortho_grad @ ortho_grad.T
        gram_update = torch.addmm(gram_matrix, gram_matrix, gram_matrix, beta=b, alpha=c)
        ortho_grad = torch.addmm(ortho_grad, gram_update, ortho_grad, beta=a)
    if grad.size(0) > grad.size(1):
        ortho_grad = ortho_grad.T
    return ortho_grad


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """lr·√max(1, p/q) ("original", Keller Jordan's; also None) or lr·0.2·√max(p, q)
    ("match_rms_adamw", Moonshot's: an update with AdamW's RMS) for a p×q matrix."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    else:
        ratio = 0.2 * math.sqrt(max(rows, cols))
    return lr * ratio


def muon(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Tensor]],
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    ns_coefficients: tuple[float, float, float],
    eps: float,
    ns_steps: int,
    adjust_lr_fn: str | None,
) -> None:
    r"""For each 2-D parameter θ (p×q) with gradient g, (a, b, c) = ns_coefficients:

        m ← m + (1 − μ)·(g − m)                    (lerp: μ·m + (1 − μ)·g; m starts at 0)
        u ← g + μ·(m − g)                          if nesterov (lerp), else u ← m
        O ← NS(u): ns_steps steps of X ← a·X + (b·A + c·A²)·X, A = X·Xᵀ, from
            X = u/max(‖u‖_F, ε) in bfloat16, on uᵀ when p > q (then transposed back)
        θ ← θ·(1 − lr·λ)                           (decoupled weight decay)
        θ ← θ − lr·s·O,  s = √max(1, p/q)           adjust_lr_fn None or "original"
                         s = 0.2·√max(p, q)         "match_rms_adamw"

    torch's docstring writes m ← μ·m + g and g + μ·m; its code lerps, as here. Every
    parameter that is not 2-D is trained by AdamW instead (torch's defaults, the same lr):
    torch.optim.Muon refuses them.

    State: ``momentum_buffer`` (m), zero-filled at the first step; the parameters AdamW
    trains keep ``step``, ``exp_avg``, ``exp_avg_sq``. Repeats torch's ``_single_tensor_muon``.
    """
    import torch

    for param, grad, state in zip(params, grads, states, strict=True):
        if grad.ndim != 2:
            raise ValueError(f"Muon takes 2-D parameters only, got one of shape {grad.shape}")
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(grad, memory_format=torch.preserve_format)
        buf = state["momentum_buffer"]
        buf.lerp_(grad, 1 - momentum)
        update = grad.lerp(buf, momentum) if nesterov else buf
        update = newton_schulz(update, ns_coefficients, ns_steps, eps)
        lr_here = adjusted_lr(lr, adjust_lr_fn, tuple(param.shape))
        param.mul_(1 - lr * weight_decay)
        param.add_(update, alpha=-lr_here)


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    """Muon's formula (``explain_with``); a parameter it does not take by the formula of
    the optimizer that trains it (AdamW), looked up in gradcli's catalog."""
    from gradcli.optimizers import find

    other = find(MUON.rest or "")
    return explain_with(other.name, other.explain, other.defaults, e, h)


def explain_with(
    rest: str,
    rest_formula: Callable[[Element, dict[str, Any]], list[str]],
    rest_hyperparameters: dict[str, Any],
    e: Element,
    h: dict[str, Any],
) -> list[str]:
    """Muon's formula for a 2-D parameter; any other was stepped by the optimizer ``rest``,
    whose formula (``rest_formula``, at its ``rest_hyperparameters``) says how."""
    if "momentum_buffer" not in e.state_after:  # not 2-D: the other optimizer's step
        return [f"{rest} (not 2-D)", *rest_formula(e, as_used(rest_hyperparameters, e))]
    parts: list[str] = []
    g, momentum = e.grad, float(h["momentum"])
    m = e.state_after["momentum_buffer"]
    parts.append(
        f"m = μ·m + (1 − μ)·g = {hyper(momentum)} × {num(e.was('momentum_buffer'))} + "
        f"{hyper(1 - momentum)} × {num(g)} = {num(m)}"
    )
    label = "m"
    if h["nesterov"]:
        u = g + momentum * (m - g)
        parts.append(
            f"u = g + μ·(m − g) = {num(g)} + {hyper(momentum)} × ({num(m)} − {num(g)}) = {num(u)}"
        )
        label = "u"
    theta = decayed_theta(e, float(h["weight_decay"]), parts)
    scale = "0.2·√max(p, q)" if h["adjust_lr_fn"] == "match_rms_adamw" else "√max(1, p/q)"
    # O needs the whole matrix: s·O[0] is read back from the update.
    step = (theta - e.theta_new) / e.lr if e.lr else 0.0
    parts.append(
        f"s·O = {num(step)} (read back: O = NS({label}) in {h['ns_steps']} steps over the "
        f"whole p×q matrix, s = {scale})"
    )
    parts.append(f"θ − lr·s·O = {num(theta)} − {hyper(e.lr)} × {num(step)} = {num(e.theta_new)}")
    return parts


def _two_dimensional(shape: tuple[int, ...]) -> bool:
    return len(shape) == 2


def _fewer_than_100_steps(h: dict[str, Any]) -> str | None:
    if h["ns_steps"] >= 100:
        return f"ns_steps must be below 100 (torch's limit), got {h['ns_steps']}"
    return None


class _Finite(Real):
    """Any finite number (a Newton–Schulz coefficient)."""

    def describe(self) -> str:
        return "a finite number"


MUON = Optimizer(
    name="muon",
    torch_class="Muon",
    summary="momentum orthogonalised by Newton–Schulz, for 2-D parameters; AdamW for the rest",
    lr=1e-3,
    hyperparameters=(
        weight_decay(0.1),
        Hyperparameter(
            "momentum",
            0.95,
            Real(0, 1, high_open=True),
            "Momentum μ in [0, 1).",
            tested=(0.0, 0.95),
        ),
        Hyperparameter("nesterov", True, Flag(), "Nesterov momentum: orthogonalise g + μ·(m − g)."),
        Hyperparameter(
            "ns_coefficients",
            COEFFICIENTS,
            Several((_Finite(-math.inf),) * 3, metavar="A,B,C"),
            "Coefficients (a, b, c) of the Newton–Schulz step a·X + (b·A + c·A²)·X.",
            # torch's (Keller Jordan's) quintic, and two whose fixed point σ = 1 is stable
            # (p(1) = 1, p'(1) = 0), the classical 15/8, −10/8, 3/8 among them
            tested_values=(COEFFICIENTS, (1.875, -1.25, 0.375), (2.0, -1.5, 0.5)),
        ),
        Hyperparameter(
            "eps",
            1e-7,
            Real(),
            "Floor ε >= 0 of ‖u‖_F, which u is divided by.",
            tested=(1e-10, 1e-3),
        ),
        Hyperparameter("ns_steps", 5, Integer(0), "Newton–Schulz steps, 0 to 99.", tested=(1, 8)),
        Hyperparameter(
            "adjust_lr_fn",
            None,
            Choice((None, "original", "match_rms_adamw")),
            "lr scale, θ p×q: None or original √max(1, p/q); match_rms_adamw 0.2·√max(p, q).",
        ),
    ),
    state={
        "momentum_buffer": "m, the momentum (2-D parameters: Muon)",
        "step": "t, the number of updates (other parameters: AdamW)",
        "exp_avg": "m, AdamW's first moment (other parameters)",
        "exp_avg_sq": "v, AdamW's second moment (other parameters)",
    },
    rule=muon,
    explain=explain,
    lrs={"linear": 0.3, "mlp": 0.1, "rosenbrock": 0.1},
    check=_fewer_than_100_steps,
    takes=_two_dimensional,
    rest="adamw",
    explain_with=explain_with,
)
OPTIMIZERS = (MUON,)
