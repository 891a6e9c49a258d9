"""OneCycleLR: up from max_lr/div_factor to max_lr, then down far below, the momentum the
other way (the 1cycle policy; torch.optim.lr_scheduler.OneCycleLR)."""

from __future__ import annotations

import math
from typing import Any

from gradcli.errors import GradcliError
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


def total(keywords: dict[str, Any]) -> int | None:
    if keywords["total_steps"] is not None:
        return int(keywords["total_steps"])
    if keywords["epochs"] is not None and keywords["steps_per_epoch"] is not None:
        return int(keywords["epochs"] * keywords["steps_per_epoch"])
    return None


def phases(total_steps: int, pct_start: float, three_phase: bool) -> list[dict[str, Any]]:
    """torch's ``_schedule_phases``: where each phase ends, what it anneals from and to."""
    if three_phase:
        return [
            _phase(float(pct_start * total_steps) - 1, "initial_lr", "max_lr", "max", "base"),
            _phase(float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr", "base", "max"),
            _phase(total_steps - 1, "initial_lr", "min_lr", "max", "max"),
        ]
    return [
        _phase(float(pct_start * total_steps) - 1, "initial_lr", "max_lr", "max", "base"),
        _phase(total_steps - 1, "max_lr", "min_lr", "base", "max"),
    ]


def _phase(end: float, start_lr: str, end_lr: str, start_m: str, end_m: str) -> dict[str, Any]:
    return {
        "end_step": end,
        "start_lr": start_lr,
        "end_lr": end_lr,
        "start_momentum": f"{start_m}_momentum",
        "end_momentum": f"{end_m}_momentum",
    }


class OneCycleLRRule(Rule):
    def __init__(
        self,
        group: dict[str, Any],
        *,
        max_lr: float,
        total_steps: int | None,
        epochs: int | None,
        steps_per_epoch: int | None,
        pct_start: float,
        anneal_strategy: str,
        cycle_momentum: bool,
        base_momentum: float,
        max_momentum: float,
        div_factor: float,
        final_div_factor: float,
        three_phase: bool,
    ) -> None:
        found = total(
            {"total_steps": total_steps, "epochs": epochs, "steps_per_epoch": steps_per_epoch}
        )
        if found is None:
            raise GradcliError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
        self.total_steps = found
        self.phases = phases(found, pct_start, three_phase)
        self.anneal_strategy = anneal_strategy
        group["initial_lr"] = max_lr / div_factor  # the optimizer's own lr is replaced
        group["max_lr"] = max_lr
        group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = uses_beta1(group, "OneCycleLR")
            set_momentum(group, self.use_beta1, max_momentum)
            group["max_momentum"] = max_momentum
            group["base_momentum"] = base_momentum
        super().__init__(group)

    def anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            cos_out = math.cos(math.pi * pct) + 1
            return end + (start - end) / 2.0 * cos_out
        return (end - start) * pct + start

    def get_lr(self) -> float:
        r"""After e scheduler steps, in the phase that runs from step a to step b:

            pct = (e − a) / (b − a)
            lr_e = end + (start − end)/2·(1 + cos(π·pct))      (anneal_strategy 'cos')
            lr_e = start + (end − start)·pct                     ('linear')

        Phases: from initial_lr = max_lr/div_factor up to max_lr until pct_start·total_steps − 1,
        then down to min_lr = initial_lr/final_div_factor at total_steps − 1 (three_phase: up,
        back to initial_lr, then down to min_lr). The momentum (or β1) anneals the other way,
        between max_momentum and base_momentum. Not recursive. Repeats torch's ``get_lr``.
        """
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise GradcliError(
                f"OneCycleLR: tried to step {step_num} times; total_steps is {self.total_steps}"
            )
        start_step = 0.0
        for i, phase in enumerate(self.phases):
            end_step = phase["end_step"]
            if step_num <= end_step or i == len(self.phases) - 1:
                if end_step == start_step:  # torch divides by zero here
                    raise GradcliError(
                        f"OneCycleLR divides by zero at step {step_num + 1}: a phase from step "
                        f"{start_step:g} to {end_step:g} has no length (change pct_start)"
                    )
                pct = (step_num - start_step) / (end_step - start_step)
                lr = self.anneal(self.group[phase["start_lr"]], self.group[phase["end_lr"]], pct)
                if self.cycle_momentum:
                    momentum = self.anneal(
                        self.group[phase["start_momentum"]],
                        self.group[phase["end_momentum"]],
                        pct,
                    )
                break
            start_step = phase["end_step"]
        if self.cycle_momentum:
            set_momentum(self.group, self.use_beta1, momentum)
        return lr


def _check(keywords: dict[str, Any]) -> str | None:
    steps = total(keywords)
    if steps is None:
        return "OneCycleLR needs total_steps, or epochs and steps_per_epoch"
    first = phases(steps, keywords["pct_start"], keywords["three_phase"])[0]["end_step"]
    if first == 0.0:  # torch's first step divides 0 by 0
        return (
            f"pct_start·total_steps must not be 1 (pct_start={keywords['pct_start']:g}, "
            f"total_steps={steps}): torch's warm-up phase would have no length"
        )
    return None


SCHEDULERS = (
    Scheduler(
        name="onecyclelr",
        torch_class="OneCycleLR",
        summary="the 1cycle policy: up to max_lr, then far below the start; momentum the other way",
        hyperparameters=(
            Hyperparameter(
                "max_lr", REQUIRED, Real(), "Peak lr, >= 0 (replaces --lr).", tested=(0.0, 1.0)
            ),
            Hyperparameter("total_steps", None, Maybe(Integer(1)), "Steps of the cycle, >= 1."),
            Hyperparameter("epochs", None, Maybe(Integer(1)), "With steps_per_epoch: the steps."),
            Hyperparameter("steps_per_epoch", None, Maybe(Integer(1)), "With epochs: the steps."),
            Hyperparameter(
                "pct_start", 0.3, Real(0, 1), "Share of the cycle spent going up, in [0, 1]."
            ),
            Hyperparameter(
                "anneal_strategy", "cos", Choice(("cos", "linear")), "Cosine or linear annealing."
            ),
            Hyperparameter("cycle_momentum", True, Flag(), "Cycle the momentum (or β1) too."),
            Hyperparameter("base_momentum", 0.85, MOMENTUM_RANGE, "Momentum at max_lr, in [0, 1)."),
            Hyperparameter(
                "max_momentum", 0.95, MOMENTUM_RANGE, "Momentum at the ends, in [0, 1)."
            ),
            Hyperparameter(
                "div_factor",
                25.0,
                Real(0, low_open=True),
                "initial_lr = max_lr/div_factor, > 0.",
                tested=(1.0, 100.0),
            ),
            Hyperparameter(
                "final_div_factor",
                1e4,
                Real(0, low_open=True),
                "min_lr = initial_lr/final_div_factor, > 0.",
                tested=(1.0, 1e5),
            ),
            Hyperparameter("three_phase", False, Flag(), "Up, back down to initial_lr, then down."),
        ),
        rule=OneCycleLRRule,
        check=_check,
        most_steps=total,
        drives_momentum="cycle_momentum",
        sets_lr=True,
        example="OneCycleLR(max_lr=0.1, total_steps=100)",
    ),
)
