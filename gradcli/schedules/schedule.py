"""A schedule run by hand: what a training loop asks each step, with no torch.

schedule = Schedule(spec, lr=0.1, hyperparameters={"momentum": 0.9, ...})
for step in range(1, steps + 1):
    lr, momentum = schedule.lr, schedule.momentum   # this step's values
    ...update with lr (and momentum, or betas[0])...
    schedule.step(loss)                             # as scheduler.step() after optimizer.step()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcli.errors import GradcliError
from gradcli.schedules.schedule_spec import ScheduleSpec


class Schedule:
    """The hand-written counterpart of ``torch.optim.lr_scheduler.<Class>(optimizer, ...)`` for
    an optimizer with one parameter group. ``group`` plays torch's param_group: ``lr`` and the
    optimizer's hyperparameters (``momentum``, ``betas``, ...), which the scheduler changes in
    place as torch's does."""

    def __init__(
        self, spec: ScheduleSpec, lr: float, hyperparameters: Mapping[str, Any] | None = None
    ) -> None:
        self.spec = spec
        self.group: dict[str, Any] = {"lr": lr, **(hyperparameters or {})}
        if spec.drives_momentum and "momentum" not in self.group and "betas" not in self.group:
            own = spec.scheduler.drives_momentum or "cycle_momentum"
            raise GradcliError(
                f"{spec.text} sets the optimizer's momentum or β1 ({own}=True): choose an "
                f"optimizer with momentum or betas, or set {own}=False"
            )
        self.rule = spec.rule(self.group)
        self.steps = 0

    @property
    def lr(self) -> float:
        """The learning rate of the next optimizer step."""
        return float(self.group["lr"])

    @property
    def momentum(self) -> float | None:
        """The momentum (or β1 = betas[0]) of the next step, where the schedule drives it."""
        if not self.spec.drives_momentum:
            return None
        if "betas" in self.group:
            return float(self.group["betas"][0])
        return float(self.group["momentum"])

    def scheduled(self) -> dict[str, Any]:
        """The momentum or betas this schedule set for the next step (``driven``), where it
        drives them; else nothing."""
        return driven(self.group) if self.spec.drives_momentum else {}

    @property
    def momentum_key(self) -> str | None:
        """``momentum`` or ``beta1``: what ``momentum`` is, where driven."""
        if not self.spec.drives_momentum:
            return None
        return "beta1" if "betas" in self.group else "momentum"

    def hyperparameters(self) -> dict[str, Any]:
        """The optimizer's hyperparameters for the next step (momentum, betas as set)."""
        return {
            k: v
            for k, v in self.group.items()
            if k not in ("lr", "initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
        }

    def closed_form(self) -> float | None:
        """torch's closed form at this step, where it has one (``_get_closed_form_lr``)."""
        return self.rule.closed_form() if self.rule.closed else None

    def step(self, loss: float | None = None) -> None:
        """After an optimizer step: ``scheduler.step()`` (ReduceLROnPlateau: ``step(loss)``)."""
        most = self.spec.most_steps
        if most is not None and self.steps >= most:
            raise GradcliError(
                f"{self.spec.text} takes at most {most} steps (torch refuses step {most + 1})"
            )
        if self.spec.scheduler.needs_loss:
            if loss is None:
                raise GradcliError(f"{self.spec.text} needs the loss of each step")
            self.rule.step(loss)
        else:
            self.rule.step()
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        """Plain values only (numbers, strings, lists, dicts): fit for ``weights_only``."""
        return {"steps": self.steps, "group": dict(self.group), "rule": self.rule.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.steps = int(state["steps"])
        self.group.clear()
        self.group.update(state["group"])
        self.rule.load_state_dict(state["rule"])


def driven(group: Mapping[str, Any]) -> dict[str, Any]:
    """What a schedule that drives momentum sets in ``group`` (torch's param_group, or the
    hand-written one): its ``betas`` (β1 = betas[0]) where it has them, else ``momentum``."""
    key = "betas" if "betas" in group else "momentum"
    return {key: group[key]}


def explain_lr(
    spec: ScheduleSpec,
    lr: float,
    hyperparameters: Mapping[str, Any] | None,
    per: str,
    stepped: int,
    used: float,
    scheduled: Mapping[str, Any],
) -> str:
    """The ``--explain`` line of the learning rate ``used`` (and the ``scheduled`` momentum
    or betas) of an update after ``stepped`` scheduler steps, one each ``per`` (``lr_line``),
    with torch's closed form at that point by a fresh rule where the scheduler has one
    (``Rule.closed_words``; not inside SequentialLR or ChainedScheduler)."""
    line = lr_line(spec.text, stepped, used, per, scheduled)
    if spec.scheduler.nests or spec.scheduler.rule is None:
        return line
    return line + Schedule(spec, lr, hyperparameters).rule.closed_words(stepped, used)


def lr_line(
    text: str,
    stepped: int,
    used: float,
    per: str = "step",
    scheduled: Mapping[str, Any] | None = None,
) -> str:
    """``lr: StepLR(step_size=2) after 3 steps: lr = 0.05``: which schedule (``text``) gave
    an update its learning rate ``used``, after how many of its steps (``stepped``, one a
    training step or one an epoch: ``per``); and where it drives momentum, the momentum or
    β1 it set for that update (``scheduled``: ``, β1 = 0.85``)."""
    line = f"lr: {text} after {stepped} {per}{'s' * (stepped != 1)}: lr = {used!r}"
    for key, value in (scheduled or {}).items():
        line += f", β1 = {value[0]!r}" if key == "betas" else f", {key} = {value!r}"
    return line
