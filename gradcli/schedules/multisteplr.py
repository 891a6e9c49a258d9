"""MultiStepLR: the lr times γ at each milestone (torch.optim.lr_scheduler.MultiStepLR)."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from typing import Any

from gradcli.schedules.catalog import REQUIRED, Hyperparameter, Integers, Rule, Scheduler, gamma


class MultiStepLRRule(Rule):
    closed = True

    def __init__(self, group: dict[str, Any], *, milestones: list[int], gamma: float) -> None:
        self.milestones = dict(Counter(milestones))  # torch keeps a Counter: repeats count
        self.gamma = gamma
        super().__init__(group)

    def get_lr(self) -> float:
        r"""After e scheduler steps:

            lr_e = lr_{e−1}·γ^n    if e is a milestone, given n times
            lr_e = lr_{e−1}        otherwise

        Closed form: base_lr·γ^(number of milestones <= e). Repeats torch's ``get_lr``.
        """
        if self.last_epoch not in self.milestones:
            return self.group["lr"]  # type: ignore[no-any-return]
        return self.group["lr"] * self.gamma ** self.milestones[self.last_epoch]  # type: ignore[no-any-return]

    def closed_form(self) -> float:
        milestones = sorted(Counter(self.milestones).elements())
        return self.base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)

    def closed_text(self) -> str:
        passed = bisect_right(sorted(Counter(self.milestones).elements()), self.last_epoch)
        return f"base_lr·γ^(milestones passed) = {self.base_lr:g}·{self.gamma:g}^{passed}"


SCHEDULERS = (
    Scheduler(
        name="multisteplr",
        torch_class="MultiStepLR",
        summary="the lr times γ at each milestone",
        hyperparameters=(
            Hyperparameter(
                "milestones",
                REQUIRED,
                Integers(0),
                "Steps at which the lr decays; one given twice decays twice.",
            ),
            gamma(0.1),
        ),
        rule=MultiStepLRRule,
        example="MultiStepLR(milestones=[30, 80], gamma=0.1)",
    ),
)
