"""The two ways a step updates the parameters, behind one interface (``step``, ``zero_grad``,
``state``, ``load_state``):

- ``ManualUpdate``: autograd computes the gradients, a hand-written rule from
  ``gradcli.optimizers`` updates each parameter in place under ``torch.no_grad()``, and the
  gradients are dropped after;
- ``OptimUpdate``: ``torch.optim``'s own optimizer.
"""

from __future__ import annotations

import inspect
from collections import defaultdict

import torch
from torch import Tensor, nn

from gradcli._private import fused_devices
from gradcli.errors import GradcliError
from gradcli.optimizers.catalog import Optimizer, Value

State = dict[str, Tensor]


class ManualUpdate:
    """The hand-written path: the optimizer's rule from the catalog, state kept here."""

    def __init__(
        self,
        params: list[nn.Parameter],
        optimizer: Optimizer,
        lr: float,
        hyperparameters: dict[str, Value],
    ) -> None:
        self.params = params
        self.rule = optimizer.rule
        self.lr = lr
        self.hyperparameters = hyperparameters
        # Keyed by parameter and created lazily, like torch.optim.Optimizer.state.
        self.state: dict[Tensor, State] = defaultdict(dict)

    def load_state(self, state: dict[int, dict[str, Tensor]]) -> None:
        """State saved by index (a checkpoint), onto this run's parameters and device."""
        for index, values in state.items():
            param = self.params[index]
            self.state[param] = {
                k: v if k == "step" else v.to(param.device) for k, v in values.items()
            }

    def zero_grad(self) -> None:
        """Nothing to do: ``step`` already dropped the gradients it used."""

    def step(self) -> None:
        # Like torch.optim, skip parameters that got no gradient.
        params = [p for p in self.params if p.grad is not None]
        with torch.no_grad():
            self.rule(
                params,
                [p.grad for p in params],
                [self.state[p] for p in params],
                lr=self.lr,
                **self.hyperparameters,
            )
        for p in params:
            # What optimizer.zero_grad() does by default since torch 2.0. Zeroing in place
            # would turn a -0.0 gradient into +0.0 at the next backward.
            p.grad = None


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
        optimizer_class = getattr(torch.optim, optimizer.torch_class)
        self.optimizer = optimizer_class(params, lr=lr, **hyperparameters, **(impl or {}))

    @property
    def state(self) -> dict[Tensor, State]:
        return self.optimizer.state  # (load_state_dict replaces the dict: never keep it)

    def load_state(self, state: dict[int, dict[str, Tensor]]) -> None:
        """State saved by index (a checkpoint). The hyperparameters stay this run's own."""

        groups = [
            {
                **{k: v for k, v in group.items() if k != "params"},
                "params": list(range(len(group["params"]))),
            }
            for group in self.optimizer.param_groups
        ]
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self) -> None:
        self.optimizer.step()
