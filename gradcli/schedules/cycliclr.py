"""CyclicLR: the lr cycles between base_lr and max_lr, the momentum the other way
(torch.optim.lr_scheduler.CyclicLR)."""

from __future__ import annotations

import math
from typing import Any

from gradcli.schedules._momentum import set_momentum, uses_beta1
from gradcli.schedules.catalog import (
    MOMENTUM_RANGE,
    REQUIRED,
    Choice,
    Flag,
    Hyperparameter,
    Integer,
    Maybe,
    Real,
    Rule,
    Scheduler,
)


class CyclicLRRule(Rule):
    def __init__(
        self,
        group: dict[str, Any],
        *,
        base_lr: float,
        max_lr: float,
        step_size_up: int,
        step_size_down: int | None,
        mode: str,
        gamma: float,
        cycle_momentum: bool,
        base_momentum: float,
        max_momentum: float,
    ) -> None:
        group["lr"] = base_lr  # the optimizer's own lr is replaced
        self.max_lr = max_lr
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        self.mode = mode
        self.gamma = gamma
        self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = uses_beta1(group, "CyclicLR")
            self.base_momentum = base_momentum
            self.max_momentum = max_momentum
            set_momentum(group, self.use_beta1, max_momentum)
            group["max_momentum"] = max_momentum
            group["base_momentum"] = base_momentum
        super().__init__(group)
        self.base_lr = base_lr  # after the constructor's step, as torch sets base_lrs

    def scale_fn(self, x: float) -> float:
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x  # type: ignore[no-any-return]

    def get_lr(self) -> float:
        r"""After e scheduler steps, with a cycle of S = step_size_up + step_size_down steps,
        r = step_size_up / S:

            cycle = ⌊1 + e/S⌋,  x = 1 + e/S − cycle                 (where in the cycle)
            h = x/r  on the way up (x <= r),  (x − 1)/(r − 1)  on the way down
            lr_e = base_lr + (max_lr − base_lr)·h·scale
            momentum_e = max_momentum − (max_momentum − base_momentum)·h·scale

        scale: 1 (triangular), 1/2^(cycle − 1) (triangular2), γ^e (exp_range). Not
        recursive. With cycle_momentum, sets the optimizer's momentum (or β1) too. Repeats
        torch's ``get_lr``.
        """
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        at = cycle if self.scale_mode == "cycle" else self.last_epoch
        base_height = (self.max_lr - self.base_lr) * scale_factor
        lr = self.base_lr + base_height * self.scale_fn(at)
        if self.cycle_momentum:
            base_height = (self.max_momentum - self.base_momentum) * scale_factor
            momentum = self.max_momentum - base_height * self.scale_fn(at)
            set_momentum(self.group, self.use_beta1, momentum)
        return lr


SCHEDULERS = (
    Scheduler(
        name="cycliclr",
        torch_class="CyclicLR",
        summary="the lr cycles between base_lr and max_lr (and the momentum the other way)",
        hyperparameters=(
            Hyperparameter(
                "base_lr", REQUIRED, Real(), "Lowest lr (replaces --lr), >= 0.", tested=(0.0, 0.5)
            ),
            Hyperparameter("max_lr", REQUIRED, Real(), "Highest lr, >= 0.", tested=(0.0, 1.0)),
            Hyperparameter(
                "step_size_up", 2000, Integer(1), "Steps from base_lr up to max_lr.", tested=(1, 40)
            ),
            Hyperparameter(
                "step_size_down",
                None,
                Maybe(Integer(1)),
                "Steps down (None: step_size_up).",
                tested=(1, 40),
            ),
            Hyperparameter(
                "mode",
                "triangular",
                Choice(("triangular", "triangular2", "exp_range")),
                "Amplitude per cycle: constant, halved each cycle, or times γ^step.",
            ),
            Hyperparameter("gamma", 1.0, Real(), "γ of mode 'exp_range', >= 0.", tested=(0.0, 1.2)),
            Hyperparameter("cycle_momentum", True, Flag(), "Cycle the momentum (or β1) too."),
            Hyperparameter("base_momentum", 0.8, MOMENTUM_RANGE, "Lowest momentum, in [0, 1)."),
            Hyperparameter("max_momentum", 0.9, MOMENTUM_RANGE, "Highest momentum, in [0, 1)."),
        ),
        rule=CyclicLRRule,
        drives_momentum="cycle_momentum",
        sets_lr=True,
        example="CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=10)",
    ),
)
