"""The two ways a step updates the parameters, behind one interface (``step``, ``zero_grad``,
``state``, ``load_state``):

- ``ManualUpdate``: autograd computes the gradients, a hand-written rule from
  ``gradcli.optimizers`` updates each parameter in place under ``torch.no_grad()``, and the
  gradients are dropped after;
- ``OptimUpdate``: ``torch.optim``'s own optimizer.

Where torch's optimizer takes only some parameters (Muon: 2-D ones), both paths give the
others to the catalog optimizer it names (``Optimizer.rest``: AdamW), the same way.

With ``--amp fp16`` both scale the loss and unscale the gradients before clipping
(``scale_loss``, ``unscale``), and skip an update whose gradients held an inf or a NaN: the
manual path with ``HandScaler``, the optim path with ``torch.amp.GradScaler``
(``gradcli.train.loss_scaling``); ``scaler`` is None without it.

Both also clip the gradients (``clip``: ``gradcli.train.clipping``) and follow a learning-rate
schedule (``start_schedule``, ``schedule_step``): the manual path with the hand-written
``gradcli.schedules.schedule.Schedule`` of each part, the optim path with torch's own
scheduler on each of its optimizers. ``lr`` is the learning rate the next update uses.
"""

from __future__ import annotations

import inspect
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from gradcli import optimizers
from gradcli.errors import GradcliError
from gradcli.optimizers.catalog import Optimizer, Value
from gradcli.private_api import default_foreach, fused_devices
from gradcli.schedules.schedule import Schedule, driven
from gradcli.schedules.schedule_spec import ScheduleSpec
from gradcli.schedules.torch_side import build as build_torch_scheduler
from gradcli.train.clipping import Clipped, Clipping, clip_by_hand, clip_with_torch
from gradcli.train.loss_scaling import HandScaler, Unscaled, torch_unscaled

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


class _Scaling:
    """What both paths do alike with their scaler (``HandScaler`` or ``GradScaler``, whose
    methods have the same names)."""

    scaler: Any

    def scale_loss(self, loss: Tensor) -> Tensor:
        """What backward() runs on: ``scaler.scale(loss)`` (loss·S) with --amp fp16, else
        the loss."""
        return loss if self.scaler is None else self.scaler.scale(loss)

    def scaler_state(self) -> dict[str, Any]:
        """``scaler.state_dict()``: scale, growth_factor, backoff_factor, growth_interval,
        _growth_tracker."""
        return dict(self.scaler.state_dict())

    def load_scaler_state(self, state: dict[str, Any], growth_interval: int) -> None:
        """A checkpoint's scaler state, with this run's growth interval."""
        self.scaler.load_state_dict({**state, "growth_interval": growth_interval})


class ManualUpdate(_Scaling):
    """The hand-written path: the optimizer's rule from the catalog, state kept here; its
    for-loop or its foreach rule, as ``impl`` says (``manual_rule``)."""

    def __init__(
        self,
        params: list[nn.Parameter],
        optimizer: Optimizer,
        lr: float,
        hyperparameters: dict[str, Value],
        impl: str | None = None,
        clipping: Clipping | None = None,
    ) -> None:
        self.params = params
        self.parts = assign(params, optimizer, hyperparameters)
        self.rules = [manual_rule(described, impl, part) for part, described, _ in self.parts]
        self.base_lr = lr
        self.clipping = clipping
        self.schedules: list[Schedule] = []  # one per part, as torch's one per optimizer
        self.needs_loss = False  # the schedule's step takes the loss (ReduceLROnPlateau)
        self.closure = optimizer.closure  # step(closure): the rule evaluates the loss itself
        # Keyed by parameter and created lazily, like torch.optim.Optimizer.state.
        self.state: dict[Tensor, State] = defaultdict(dict)
        self.scaler: HandScaler | None = None  # --amp fp16

    def unscale(self) -> Unscaled | None:
        """With --amp fp16: each optimizer's gradients unscaled by hand, as
        ``scaler.unscale_(optimizer)``, and what was found."""
        if self.scaler is None:
            return None
        for i, (part, _, _) in enumerate(self.parts):
            self.scaler.unscale_(i, [p.grad for p in part if p.grad is not None])
        return self.scaler.unscaled()

    @property
    def lr(self) -> float:
        return self.schedules[0].lr if self.schedules else self.base_lr

    @lr.setter
    def lr(self, value: float) -> None:
        """The lr of the next updates (``gradcli lr-find``'s ramp: no schedule then)."""
        self.base_lr = value

    def start_schedule(self, spec: ScheduleSpec, done: list[float | None]) -> None:
        """Follow ``spec`` from here, after replaying the ``len(done)`` steps a checkpoint
        did (``done``: the loss each fed it, for ReduceLROnPlateau)."""
        self.schedules = [Schedule(spec, self.base_lr, hyper) for _, _, hyper in self.parts]
        self.needs_loss = spec.scheduler.needs_loss
        for loss in done:
            self.schedule_step(loss)

    def schedule_step(self, loss: float | None) -> None:
        """``scheduler.step()`` after the update (ReduceLROnPlateau: ``step(loss)``)."""
        for schedule in self.schedules:
            schedule.step(loss)

    def scheduled(self) -> dict[str, Any]:
        """The momentum or betas each part's schedule set for the next update, where it
        drives them (Muon's momentum and AdamW's betas side by side); else nothing."""
        return {k: v for schedule in self.schedules for k, v in schedule.scheduled().items()}

    def clip(self) -> Clipped | None:
        """Clip the gradients in place, by hand (``--clip-norm`` / ``--clip-value``)."""
        return None if self.clipping is None else clip_by_hand(self.params, self.clipping)

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
            for i, ((part, _, hyperparameters), rule) in enumerate(
                zip(self.parts, self.rules, strict=True)
            ):
                if self.scaler is not None and self.scaler.skips(i):
                    continue  # scaler.step(optimizer): no update, the state as it was
                lr = self.base_lr
                if self.schedules:  # this step's lr (and momentum or betas, where driven)
                    lr, hyperparameters = self.schedules[i].lr, self.schedules[i].hyperparameters()
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
                    lr=lr,
                    **given,
                    **hyperparameters,
                )
        if self.scaler is not None:
            self.scaler.update()
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


class OptimUpdate(_Scaling):
    """The library path: a ``torch.optim`` optimizer."""

    def __init__(
        self,
        params: list[nn.Parameter],
        optimizer: Optimizer,
        lr: float,
        hyperparameters: dict[str, Value],
        impl: dict[str, bool] | None = None,
        clipping: Clipping | None = None,
    ) -> None:
        self.params = params
        self.clipping = clipping
        self.schedulers: list[Any] = []
        self.needs_loss = False
        self.drives_momentum = False  # the scheduler sets momentum or β1 (OneCycleLR, ...)
        self.optimizers = []
        for part, described, hyper in assign(params, optimizer, hyperparameters):
            optimizer_class = getattr(torch.optim, described.torch_class)
            # A class with one implementation (Muon) takes no foreach: --impl is for the rest.
            takes = inspect.signature(optimizer_class).parameters
            flags = {k: v for k, v in (impl or {}).items() if k in takes}
            self.optimizers.append(optimizer_class(part, lr=lr, **hyper, **flags))
        self.optimizer = self.optimizers[0]
        self.closure = optimizer.closure  # step(closure): torch evaluates the loss itself
        self.scaler: torch.amp.GradScaler | None = None  # --amp fp16

    def unscale(self) -> Unscaled | None:
        """With --amp fp16: ``scaler.unscale_(optimizer)`` of each optimizer, and what it found."""
        if self.scaler is None:
            return None
        for optimizer in self.optimizers:
            self.scaler.unscale_(optimizer)
        return torch_unscaled(self.scaler, self.optimizers)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @lr.setter
    def lr(self, value: float) -> None:
        """The lr of the next updates, in every param group (as a scheduler sets it)."""
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = value

    def start_schedule(self, spec: ScheduleSpec, done: list[float | None]) -> None:
        """torch's scheduler on each optimizer, after the optimizer's state is loaded (its
        constructor reads the lr it starts from), stepped ``len(done)`` times to where a
        checkpoint left it: the same arithmetic as stepping it after each update."""
        with warnings.catch_warnings():
            # stepping without optimizer.step() in between warns; only the replay does that
            warnings.simplefilter("ignore")
            try:
                self.schedulers = [build_torch_scheduler(spec, o) for o in self.optimizers]
            except (ValueError, TypeError, KeyError) as error:  # what torch refuses, in a line
                message = " ".join(str(error).split()) or type(error).__name__
                raise GradcliError(f"--schedule {spec.text}: torch refuses it: {message}") from None
            self.needs_loss = spec.scheduler.needs_loss
            self.drives_momentum = spec.drives_momentum
            for loss in done:
                self.schedule_step(loss)

    def scheduled(self) -> dict[str, Any]:
        """The momentum or betas each optimizer's scheduler set in its param_group for the
        next ``step()``, where it drives them (as ``ManualUpdate.scheduled``); else nothing."""
        if not self.drives_momentum:
            return {}
        return {k: v for o in self.optimizers for k, v in driven(o.param_groups[0]).items()}

    def schedule_step(self, loss: float | None) -> None:
        for scheduler in self.schedulers:
            try:
                with warnings.catch_warnings():
                    # a first update skipped by the scaler makes torch warn that the
                    # scheduler stepped before the optimizer; with --amp fp16 that is the
                    # documented loop (docs/accumulation.md), and the manual path is silent
                    warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")
                    if self.needs_loss:
                        scheduler.step(loss)
                    else:
                        scheduler.step()
            except (ArithmeticError, ValueError) as error:  # torch's, as one line
                message = " ".join(str(error).split()) or type(error).__name__
                name = type(scheduler).__name__
                raise GradcliError(f"--schedule: torch's {name} fails: {message}") from None

    def clip(self) -> Clipped | None:
        """Clip the gradients in place with torch.nn.utils."""
        return None if self.clipping is None else clip_with_torch(self.params, self.clipping)

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
            if self.scaler is not None:
                self.scaler.step(optimizer)  # optimizer.step() unless unscale_ found an inf
            elif closure is not None:
                optimizer.step(closure)
            else:
                optimizer.step()
        if self.scaler is not None:
            self.scaler.update()
