"""The two ways a step updates the parameters, behind one interface (``step``, ``zero_grad``,
``state``, ``load_state``):

- ``ManualUpdate``: autograd computes the gradients, a hand-written rule from
  ``gradcli.optimizers`` updates each parameter in place under ``torch.no_grad()``, and the
  gradients are dropped after;
- ``OptimUpdate``: ``torch.optim``'s own optimizer.

Where torch's optimizer takes only some parameters (Muon: 2-D ones), both paths give the
others to the catalog optimizer it names (``Optimizer.rest``: AdamW), the same way.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from gradcli import optimizers
from gradcli._private import default_foreach, fused_devices
from gradcli.errors import GradcliError
from gradcli.optimizers.catalog import Optimizer, Value

State = dict[str, Tensor]
Part = tuple[list[nn.Parameter], Optimizer, dict[str, Value]]


def assign(
    params: list[nn.Parameter], optimizer: Optimizer, hyperparameters: dict[str, Value]
) -> list[Part]:
    """Which optimizer trains which parameters: ``optimizer`` all of them, unless it takes
    only some (``Optimizer.takes``); then the others go to ``optimizer.rest`` at torch's
    defaults. A part with no parameters is left out (torch refuses an empty list)."""
    if optimizer.takes is None or optimizer.rest is None:
        return [(params, optimizer, hyperparameters)]
    rest = optimizers.find(optimizer.rest)
    own = [p for p in params if optimizer.takes(tuple(p.shape))]
    others = [p for p in params if not optimizer.takes(tuple(p.shape))]
    parts = [(own, optimizer, hyperparameters), (others, rest, rest.defaults)]
    return [part for part in parts if part[0]] or parts[:1]


def _like(value: Any, param: Tensor) -> Any:
    """A saved state value on ``param``'s device (and dtype, if floating point); a list
    (LBFGS's history) item by item, a number as it is."""
    if isinstance(value, list):
        return [_like(v, param) for v in value]
    if not isinstance(value, Tensor):
        return value
    if value.is_floating_point():
        return value.to(device=param.device, dtype=param.dtype)
    return value.to(param.device)


class ManualUpdate:
    """The hand-written path: the optimizer's rule from the catalog, state kept here; its
    for-loop or its foreach rule, as ``impl`` says (``manual_rule``)."""

    def __init__(
        self,
        params: list[nn.Parameter],
        optimizer: Optimizer,
        lr: float,
        hyperparameters: dict[str, Value],
        impl: str | None = None,
    ) -> None:
        self.params = params
        self.parts = assign(params, optimizer, hyperparameters)
        self.rules = [manual_rule(described, impl, part) for part, described, _ in self.parts]
        self.lr = lr
        self.closure = optimizer.closure  # step(closure): the rule evaluates the loss itself
        # Keyed by parameter and created lazily, like torch.optim.Optimizer.state.
        self.state: dict[Tensor, State] = defaultdict(dict)

    def load_state(self, state: dict[int, dict[str, Tensor]]) -> None:
        """State saved by index (a checkpoint), onto this run's parameters and device."""
        for index, values in state.items():
            param = self.params[index]
            # as torch.optim's load_state_dict: "step" as it is, other floating-point state
            # cast to the parameter's dtype and device (NAdam's mu_product too)
            self.state[param] = {
                k: v if k == "step" else _like(v, param) for k, v in values.items()
            }

    def zero_grad(self) -> None:
        """Drop the gradients, as optimizer.zero_grad() does by default since torch 2.0
        (``step`` already dropped the ones it used; a closure's evaluations need it)."""
        for p in self.params:
            p.grad = None

    def step(self, closure: Callable[[], Tensor] | None = None) -> None:
        """One update; an optimizer that evaluates the loss itself (``Optimizer.closure``:
        LBFGS) gets ``closure``, which zeroes the gradients, evaluates and backpropagates."""
        with torch.no_grad():
            for (part, _, hyperparameters), rule in zip(self.parts, self.rules, strict=True):
                if self.closure:  # like torch's LBFGS: every parameter, state on the first
                    params = list(part)
                    given = {"closure": closure}
                else:  # like torch.optim, skip parameters that got no gradient
                    params = [p for p in part if p.grad is not None]
                    given = {}
                rule(
                    params,
                    [p.grad for p in params],
                    [self.state[p] for p in params],
                    lr=self.lr,
                    **given,
                    **hyperparameters,
                )
        for p in self.params:
            # What optimizer.zero_grad() does by default since torch 2.0. Zeroing in place
            # would turn a -0.0 gradient into +0.0 at the next backward.
            p.grad = None


def manual_rule(
    optimizer: Optimizer, impl: str | None, params: list[nn.Parameter]
) -> Callable[..., None]:
    """The hand-written rule that repeats what torch.optim runs for ``--impl`` (see
    ``impl_kwargs``): the for-loop ``rule`` or the ``foreach_rule``. With no ``--impl``, the
    one torch picks by itself: foreach where every parameter is on a device with foreach
    kernels (CUDA) and the optimizer defaults to it, else the for-loop; so ``manual`` and
    ``optim`` agree under defaults on every device. An optimizer torch runs only one way
    (Muon) has one rule for all."""
    if impl == "fused":
        raise GradcliError(
            "--impl fused: gradcli manual writes torch's forloop and foreach implementations "
            "by hand, not its fused kernels; use --impl forloop or foreach"
        )
    if impl is None:
        foreach = optimizer.foreach_by_default and default_foreach(list(params))
    else:
        foreach = impl == "foreach"
    if foreach and optimizer.foreach_rule is not None:
        return optimizer.foreach_rule
    return optimizer.rule


def impl_kwargs(optimizer: Optimizer, impl: str | None, device: torch.device) -> dict[str, bool]:
    """``--impl`` as torch.optim's ``foreach``/``fused`` flags; an error where torch lacks it."""
    if impl is None:
        return {}  # torch's own default: foreach on CUDA, the for-loop on the CPU
    if impl == "forloop":
        return {"foreach": False}
    if impl == "foreach":
        return {"foreach": True}
    optimizer_class = getattr(torch.optim, optimizer.torch_class)
    if "fused" not in inspect.signature(optimizer_class).parameters:
        raise GradcliError(
            f"--impl fused: torch.optim.{optimizer_class.__name__} has no fused "
            "implementation; use --impl forloop or foreach"
        )
    if device.type not in fused_devices():
        raise GradcliError(
            f"--impl fused: torch {torch.__version__} has no fused "
            f"{optimizer_class.__name__} on {device.type}; use --impl forloop "
            "or foreach"
        )
    return {"fused": True}


class OptimUpdate:
    """The library path: a ``torch.optim`` optimizer."""

    def __init__(
        self,
        params: list[nn.Parameter],
        optimizer: Optimizer,
        lr: float,
        hyperparameters: dict[str, Value],
        impl: dict[str, bool] | None = None,
    ) -> None:
        self.lr = lr
        self.params = params
        self.optimizers = []
        for part, described, hyper in assign(params, optimizer, hyperparameters):
            optimizer_class = getattr(torch.optim, described.torch_class)
            # A class with one implementation (Muon) takes no foreach: --impl is for the rest.
            takes = inspect.signature(optimizer_class).parameters
            flags = {k: v for k, v in (impl or {}).items() if k in takes}
            self.optimizers.append(optimizer_class(part, lr=lr, **hyper, **flags))
        self.optimizer = self.optimizers[0]
        self.closure = optimizer.closure  # step(closure): torch evaluates the loss itself

    @property
    def state(self) -> dict[Tensor, State]:
        # (load_state_dict replaces the dicts: never keep them)
        if len(self.optimizers) == 1:
            return self.optimizer.state
        merged: dict[Tensor, State] = defaultdict(dict)
        for optimizer in self.optimizers:
            merged.update(optimizer.state)
        return merged

    def load_state(self, state: dict[int, dict[str, Tensor]]) -> None:
        """State saved by index (a checkpoint). The hyperparameters stay this run's own."""
        index = {p: i for i, p in enumerate(self.params)}
        for optimizer in self.optimizers:
            (group,) = optimizer.param_groups
            mine = [index[p] for p in group["params"]]
            settings = {k: v for k, v in group.items() if k != "params"}
            optimizer.load_state_dict(
                {
                    "state": {i: state[j] for i, j in enumerate(mine) if j in state},
                    "param_groups": [{**settings, "params": list(range(len(mine)))}],
                }
            )

    def zero_grad(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad()

    def step(self, closure: Callable[[], Tensor] | None = None) -> None:
        for optimizer in self.optimizers:
            if closure is not None:
                optimizer.step(closure)
            else:
                optimizer.step()
