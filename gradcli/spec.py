"""The run spec: every choice a run depends on, validated before anything runs.

No torch here: the CLI builds and checks a spec before paying for ``import torch``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from gradcli.errors import GradcliError
from gradcli.output import Output

MODELS: dict[str, str] = {
    "linear": "linear regression, nn.Linear(3, 1) on 64 noisy samples, MSE loss",
    "seed": "w = [1, 2, 3], loss = mean(w): the classic example, constant gradient 1/3",
    "mlp": "2-16-16-2 tanh MLP classifying two moons, cross-entropy loss",
    "rosenbrock": "a point starting at (-2, 2) on the Rosenbrock function",
}
PITFALLS: dict[str, str] = {
    "data-zero": "zeroing the weights instead of the gradients: the weights collapse to −lr·grad",
    "no-zero-grad": "forgetting optimizer.zero_grad(): gradients accumulate across steps",
    "inplace-leaf": "updating a leaf that requires grad outside torch.no_grad(): torch refuses",
    "plain-tensor": "a weight kept as a plain tensor attribute: the optimizer never sees it",
    "set-to-none": "zero_grad() sets .grad to None by default (since torch 2.0), not to zeros",
    "variable": "torch.autograd.Variable is a no-op today: requires_grad on a tensor matters",
}
DTYPES = ("float32", "float64")
FORMATS = ("auto", "table", "jsonl", "csv", "tsv")
PATHS = ("manual", "optim")

# Each optimizer's hyperparameters and torch's defaults for them (lr comes from the problem).
_ADAM = {
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "amsgrad": False,
    "maximize": False,
}
OPTIMIZERS: dict[str, dict[str, float | bool]] = {
    "sgd": {
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
        "maximize": False,
    },
    "adam": _ADAM,
    "adamw": {**_ADAM, "weight_decay": 1e-2},
    "rmsprop": {
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": False,
        "maximize": False,
    },
    "adagrad": {
        "lr_decay": 0.0,
        "weight_decay": 0.0,
        "initial_accumulator_value": 0.0,
        "eps": 1e-10,
        "maximize": False,
    },
}
IMPLS = ("forloop", "foreach", "fused")

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class RunSpec:
    """One training run. ``None`` means "the default": the problem's lr, torch's hyperparameters."""

    model: str = "linear"
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float | None = None
    dampening: float | None = None
    weight_decay: float | None = None
    nesterov: bool | None = None
    maximize: bool | None = None
    beta1: float | None = None
    beta2: float | None = None
    eps: float | None = None
    amsgrad: bool | None = None
    alpha: float | None = None
    centered: bool | None = None
    lr_decay: float | None = None
    initial_accumulator_value: float | None = None
    impl: str | None = None
    state: bool = False
    explain: bool = False
    steps: int = 100
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    every: int = 1
    format: str = "auto"
    quiet: bool = False
    color: bool | None = None
    save: str | None = None
    resume: str | None = None

    @property
    def output(self) -> Output:
        return Output(self.format, self.quiet, self.color)

    def hyperparameters(self) -> dict[str, float | bool]:
        """The chosen optimizer's hyperparameters, torch's defaults filled in (lr excluded)."""
        defaults = OPTIMIZERS[self.optimizer]
        return {
            name: default if getattr(self, name) is None else getattr(self, name)
            for name, default in defaults.items()
        }

    def shows(self, step: int, last: int | None = None) -> bool:
        """Whether ``step`` is printed: every ``every``-th step, and always step 0 and the
        ``last`` (by default ``steps``; a resumed run ends later)."""
        return step in (0, self.steps if last is None else last) or step % self.every == 0


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choice(name: str, value: str, allowed: tuple[str, ...] | dict[str, str]) -> None:
    if value not in allowed:
        raise GradcliError(
            f"{_option(name)}: unknown {name} {value!r}; choose one of: {', '.join(allowed)}"
        )


def _number(
    name: str,
    value: float | None,
    low: float,
    high: float | None = None,
    *,
    high_open: bool = False,
) -> None:
    if value is None:
        return
    if high is None:
        allowed = f"a finite number >= {low:g}"
        ok = math.isfinite(value) and value >= low
    else:
        bracket = ")" if high_open else "]"
        allowed = f"a number in [{low:g}, {high:g}{bracket}"
        ok = (
            math.isfinite(value) and low <= value and (value < high if high_open else value <= high)
        )
    if not ok:
        raise GradcliError(f"{_option(name)} must be {allowed}, got {value!r}")


def validate(spec: RunSpec) -> RunSpec:
    """Check every field of ``spec``; raise GradcliError naming the first bad one."""
    if ":" not in spec.model:  # else a user's factory, loaded (and checked) with torch
        _choice("model", spec.model, {**MODELS, "module:factory": ""})

    _choice("optimizer", spec.optimizer, OPTIMIZERS)
    _choice("dtype", spec.dtype, DTYPES)
    _choice("format", spec.format, FORMATS)
    if not _DEVICE.fullmatch(spec.device):
        raise GradcliError(
            f"--device: unknown device {spec.device!r}; choose one of: auto, cpu, cuda, cuda:N"
        )
    if spec.steps < 0:
        raise GradcliError(f"--steps must be an integer >= 0, got {spec.steps}")
    if spec.every < 1:
        raise GradcliError(f"--every must be an integer >= 1, got {spec.every}")
    if not 0 <= spec.seed < 2**63:
        raise GradcliError(f"--seed must be an integer in [0, 2**63), got {spec.seed}")
    _number("lr", spec.lr, 0.0)

    applicable = OPTIMIZERS[spec.optimizer]
    for name in ALL_HYPERPARAMETERS:
        if getattr(spec, name) is not None and name not in applicable:
            users = ", ".join(o for o, hyper in OPTIMIZERS.items() if name in hyper)
            raise GradcliError(
                f"{_option(name)} does not apply to --optimizer {spec.optimizer} "
                f"(it applies to: {users})"
            )
    _number("momentum", spec.momentum, 0.0, 1.0, high_open=True)
    _number("dampening", spec.dampening, 0.0, 1.0)
    _number("weight_decay", spec.weight_decay, 0.0)
    _number("beta1", spec.beta1, 0.0, 1.0, high_open=True)
    _number("beta2", spec.beta2, 0.0, 1.0, high_open=True)
    _number("eps", spec.eps, 0.0)
    _number("alpha", spec.alpha, 0.0, 1.0)
    _number("lr_decay", spec.lr_decay, 0.0)
    _number("initial_accumulator_value", spec.initial_accumulator_value, 0.0)
    if spec.impl is not None:
        _choice("impl", spec.impl, IMPLS)
    if spec.optimizer == "sgd" and spec.nesterov:
        hyper = spec.hyperparameters()
        if hyper["momentum"] <= 0 or hyper["dampening"] != 0:
            raise GradcliError(
                "--nesterov needs --momentum > 0 and --dampening 0 (torch's rule), "
                f"got --momentum {hyper['momentum']:g} --dampening {hyper['dampening']:g}"
            )
    return spec


def specs_for_compare(
    optimizers: list[str], options: dict[str, Any], tol: float | None
) -> list[RunSpec]:
    """One validated spec per optimizer; each hyperparameter goes to the optimizers that take
    it, and one that none of them takes is an error."""
    for name in optimizers:
        _choice("optimizer", name, OPTIMIZERS)
    for name in ALL_HYPERPARAMETERS:
        if options.get(name) is not None and not any(name in OPTIMIZERS[o] for o in optimizers):
            users = ", ".join(o for o, hyper in OPTIMIZERS.items() if name in hyper)
            raise GradcliError(
                f"{_option(name)} does not apply to any of --optimizer {','.join(optimizers)} "
                f"(it applies to: {users})"
            )
    if tol is not None and not math.isfinite(tol):
        raise GradcliError(f"--tol must be a finite number, got {tol!r}")
    specs = []
    for optimizer in optimizers:
        own = {
            k: v
            for k, v in options.items()
            if k not in ALL_HYPERPARAMETERS or k in OPTIMIZERS[optimizer]
        }
        specs.append(validate(RunSpec(optimizer=optimizer, **own)))
    return specs


ALL_HYPERPARAMETERS = tuple(dict.fromkeys(name for hyper in OPTIMIZERS.values() for name in hyper))
