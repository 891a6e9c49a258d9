"""ChainedScheduler: several schedulers stepped together, each on the lr the previous one left
(torch.optim.lr_scheduler.ChainedScheduler)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradcli.schedules.catalog import REQUIRED, Hyperparameter, Rule, Scheduler, Schedulers


class ChainedSchedulerRule(Rule):
    def __init__(
        self, group: dict[str, Any], *, schedulers: list[Callable[[dict[str, Any]], Rule]]
    ) -> None:
        # built in order on the same optimizer: each constructor's step acts on the lr the
        # previous one left (LinearLR's start_factor times ConstantLR's factor, ...)
        self.schedulers = [build(group) for build in schedulers]
        self.group = group
        self.last_lr = group["lr"]

    def children(self) -> list[Rule]:
        return self.schedulers

    def step(self, loss: float | None = None) -> None:
        r"""Every step, each scheduler steps in turn; the recursive ones multiply the lr the
        previous one set, so their factors compose:

            lr_e = lr_{e−1}·(factor of the first)·(factor of the second)·...

        Repeats torch's ``step``.
        """
        for scheduler in self.schedulers:
            scheduler.step()
        self.last_lr = self.group["lr"]


SCHEDULERS = (
    Scheduler(
        name="chainedscheduler",
        torch_class="ChainedScheduler",
        summary="several schedulers stepped together, each on the lr the previous one left",
        hyperparameters=(
            Hyperparameter(
                "schedulers", REQUIRED, Schedulers(), "The schedulers, in constructor syntax."
            ),
        ),
        rule=ChainedSchedulerRule,
        nests=True,
        example="ChainedScheduler(schedulers=[ConstantLR(factor=0.5, total_iters=4), "
        "ExponentialLR(gamma=0.9)])",
    ),
)
