"""``--explain``: one step's update of a parameter's first element, with the numbers filled in.

Every number shown is the one torch computed (the state and parameter after the update are
read back, not recomputed), so the line ends on exactly the value in the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def num(x: float) -> str:
    """Six decimals where that is readable, else six significant digits."""
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:.6f}"
    return f"{x:.6g}"


def hyper(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Element:
    """The first element of one parameter around one update."""

    name: str
    step: int
    lr: float
    theta: float  # before the update
    grad: float
    theta_new: float
    before: dict[str, float]  # optimizer state before the update (empty at the first step)
    after: dict[str, float]  # and after it


def _effective_grad(e: Element, h: dict[str, float | bool], parts: list[str]) -> float:
    """Apply maximize and L2 weight decay as torch does, noting each in ``parts``."""
    g = e.grad
    if h.get("maximize"):
        g = -g
        parts.append(f"g = −g = {num(g)}")
    weight_decay = float(h.get("weight_decay", 0.0))
    if weight_decay != 0 and not h.get("decoupled"):
        new = g + weight_decay * e.theta
        parts.append(
            f"g = g + λ·θ = {num(g)} + {hyper(weight_decay)} × {num(e.theta)} = {num(new)}"
        )
        g = new
    return g


def _sgd(e: Element, h: dict[str, float | bool]) -> list[str]:
    parts: list[str] = []
    g = _effective_grad(e, h, parts)
    momentum, dampening = float(h["momentum"]), float(h["dampening"])
    direction, label = g, "g"
    if momentum != 0:
        b = e.after["momentum_buffer"]
        if "momentum_buffer" not in e.before:
            parts.append(f"b = g = {num(b)} (first step: the buffer starts at g)")
        else:
            parts.append(
                f"b = μ·b + (1 − τ)·g = {hyper(momentum)} × "
                f"{num(e.before['momentum_buffer'])} + {hyper(1 - dampening)} × "
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


def _adam(e: Element, h: dict[str, float | bool], *, decoupled: bool) -> list[str]:
    parts: list[str] = []
    theta = e.theta
    weight_decay = float(h["weight_decay"])
    if decoupled and weight_decay != 0:
        shrunk = theta * (1 - e.lr * weight_decay)
        parts.append(
            f"θ = θ·(1 − lr·λ) = {num(theta)} × (1 − {hyper(e.lr)} × "
            f"{hyper(weight_decay)}) = {num(shrunk)}"
        )
        theta = shrunk
    g = _effective_grad(e, {**h, "decoupled": decoupled}, parts)
    beta1, beta2, eps, t = float(h["beta1"]), float(h["beta2"]), float(h["eps"]), e.step
    m, v = e.after["exp_avg"], e.after["exp_avg_sq"]
    parts.append(
        f"m = β1·m + (1 − β1)·g = {hyper(beta1)} × {num(e.before.get('exp_avg', 0.0))}"
        f" + {hyper(1 - beta1)} × {num(g)} = {num(m)}"
    )
    parts.append(
        f"v = β2·v + (1 − β2)·g² = {hyper(beta2)} × "
        f"{num(e.before.get('exp_avg_sq', 0.0))} + {hyper(1 - beta2)} × {num(g)}² = "
        f"{num(v)}"
    )
    if h["amsgrad"]:
        v = e.after["max_exp_avg_sq"]
        parts.append(f"v = max(v_max, v) = {num(v)}")
    parts.append(
        f"θ − lr/(1 − β1^t) · m/(√v/√(1 − β2^t) + ε) = {num(theta)} − "
        f"{hyper(e.lr)}/(1 − {hyper(beta1)}^{t}) × {num(m)}/(√{num(v)}/"
        f"√(1 − {hyper(beta2)}^{t}) + {hyper(eps)}) = {num(e.theta_new)}"
    )
    return parts


def _rmsprop(e: Element, h: dict[str, float | bool]) -> list[str]:
    parts: list[str] = []
    g = _effective_grad(e, h, parts)
    alpha, eps, momentum = float(h["alpha"]), float(h["eps"]), float(h["momentum"])
    v = e.after["square_avg"]
    parts.append(
        f"v = α·v + (1 − α)·g² = {hyper(alpha)} × "
        f"{num(e.before.get('square_avg', 0.0))} + {hyper(1 - alpha)} × {num(g)}² = "
        f"{num(v)}"
    )
    denom = f"(√{num(v)} + {hyper(eps)})"
    if h["centered"]:
        avg = e.after["grad_avg"]
        parts.append(
            f"ḡ = α·ḡ + (1 − α)·g = {hyper(alpha)} × "
            f"{num(e.before.get('grad_avg', 0.0))} + {hyper(1 - alpha)} × {num(g)} = "
            f"{num(avg)}"
        )
        denom = f"(√({num(v)} − {num(avg)}²) + {hyper(eps)})"
    if momentum > 0:
        b = e.after["momentum_buffer"]
        parts.append(
            f"b = μ·b + g/(√v + ε) = {hyper(momentum)} × "
            f"{num(e.before.get('momentum_buffer', 0.0))} + {num(g)}/{denom} = "
            f"{num(b)}"
        )
        parts.append(f"θ − lr·b = {num(e.theta)} − {hyper(e.lr)} × {num(b)} = {num(e.theta_new)}")
    else:
        parts.append(
            f"θ − lr·g/(√v + ε) = {num(e.theta)} − {hyper(e.lr)} × {num(g)}/{denom} = "
            f"{num(e.theta_new)}"
        )
    return parts


def _adagrad(e: Element, h: dict[str, float | bool]) -> list[str]:
    parts: list[str] = []
    g = _effective_grad(e, h, parts)
    lr_decay, eps = float(h["lr_decay"]), float(h["eps"])
    s = e.after["sum"]
    s_before = e.before.get("sum", float(h["initial_accumulator_value"]))
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


EXPLAINERS: dict[str, Callable[[Element, dict[str, float | bool]], list[str]]] = {
    "sgd": _sgd,
    "adam": lambda e, h: _adam(e, h, decoupled=False),
    "adamw": lambda e, h: _adam(e, h, decoupled=True),
    "rmsprop": _rmsprop,
    "adagrad": _adagrad,
}


def explain(optimizer: str, hyperparameters: dict[str, float | bool], element: Element) -> str:
    """One line: ``name[0]: part; part; ... = new value``."""
    return f"{element.name}[0]: " + "; ".join(EXPLAINERS[optimizer](element, hyperparameters))
