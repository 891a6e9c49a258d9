"""StepLR: the lr times γ every step_size steps (torch.optim.lr_scheduler.StepLR)."""

from __future__ import annotations

from typing import Any

from gradcli.schedules.catalog import REQUIRED, Hyperparameter, Integer, Rule, Scheduler, gamma


class StepLRRule(Rule):
    closed = True

    def __init__(self, group: dict[str, Any], *, step_size: int, gamma: float) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(group)

    def get_lr(self) -> float:
        r"""After e scheduler steps (the lr of training step e + 1):

            lr_e = lr_{e−1}·γ      if e > 0 and e is a multiple of step_size
            lr_e = lr_{e−1}        otherwise                     (lr_0 = the base lr)

        Closed form: base_lr·γ^⌊e / step_size⌋ (rounds differently once γ has been applied
        twice: a product of roundings against one power). Repeats torch's ``get_lr``.
        """
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.group["lr"]  # type: ignore[no-any-return]
        return self.group["lr"] * self.gamma  # type: ignore[no-any-return]

    def closed_form(self) -> float:
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)

    def closed_text(self) -> str:
        e, s = self.last_epoch, self.step_size
        return f"base_lr·γ^⌊e/step_size⌋ = {self.base_lr:g}·{self.gamma:g}^⌊{e}/{s}⌋"


SCHEDULERS = (
    Scheduler(
        name="steplr",
        torch_class="StepLR",
        summary="the lr times γ every step_size steps",
        hyperparameters=(
            Hyperparameter(
                "step_size", REQUIRED, Integer(1), "Steps between two decays, >= 1.", tested=(1, 50)
            ),
            gamma(0.1),
        ),
        rule=StepLRRule,
        example="StepLR(step_size=30, gamma=0.1)",
    ),
)
