"""SequentialLR: one scheduler after another, switching at milestones
(torch.optim.lr_scheduler.SequentialLR)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from gradcli.schedules.catalog import (
    REQUIRED,
    Hyperparameter,
    Integers,
    Rule,
    Scheduler,
    Schedulers,
)


class SequentialLRRule(Rule):
    def __init__(
        self,
        group: dict[str, Any],
        *,
        schedulers: list[Callable[[dict[str, Any]], Rule]],
        milestones: list[int],
    ) -> None:
        # the schedulers are built first, in order, on the same optimizer (as in a script):
        # each one's constructor steps once
        self.schedulers = [build(group) for build in schedulers]
        self.milestones = list(milestones)
        self.last_epoch = 0  # last_epoch + 1
        self.group = group
        group["lr"] = group["initial_lr"]  # undo the constructors' steps...
        for child in self.schedulers:
            child.last_epoch -= 1
        idx = bisect_right(self.milestones, 0)  # ...and step the first one again
        self.schedulers[idx].initial_step()
        self.last_lr = self.schedulers[idx].last_lr

    def children(self) -> list[Rule]:
        return self.schedulers

    def step(self, loss: float | None = None) -> None:
        r"""At step e, the scheduler i with milestones[i−1] <= e < milestones[i] runs:

            at e = milestones[i−1]: it restarts from its step 0, by its closed form where
                                    torch has one (from the base lr, not the current lr)
            otherwise:              its own step

        Repeats torch's ``step``.
        """
        self.last_epoch += 1
        idx = bisect_right(self.milestones, self.last_epoch)
        scheduler = self.schedulers[idx]
        if idx > 0 and self.milestones[idx - 1] == self.last_epoch:
            scheduler.update_lr(0)
        else:
            scheduler.step()
        self.last_lr = scheduler.last_lr


def _check(keywords: dict[str, Any]) -> str | None:
    count = len(keywords["schedulers"])
    if len(keywords["milestones"]) != count - 1:
        return (
            f"milestones needs one value fewer than schedulers: {count} schedulers, "
            f"{count - 1} milestones, got {len(keywords['milestones'])}"
        )
    return None


SCHEDULERS = (
    Scheduler(
        name="sequentiallr",
        torch_class="SequentialLR",
        summary="one scheduler after another, switching at milestones",
        hyperparameters=(
            Hyperparameter(
                "schedulers", REQUIRED, Schedulers(), "The schedulers, in constructor syntax."
            ),
            Hyperparameter(
                "milestones",
                REQUIRED,
                Integers(0, increasing=True),
                "Steps at which the next scheduler takes over, one fewer than schedulers.",
            ),
        ),
        rule=SequentialLRRule,
        check=_check,
        nests=True,
        example="SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=5), "
        "CosineAnnealingLR(T_max=95)], milestones=[5])",
    ),
)
