"""CosineAnnealingLR: the lr follows a cosine from the base lr down to η_min over T_max steps
(torch.optim.lr_scheduler.CosineAnnealingLR)."""

from __future__ import annotations

import math
from typing import Any

from gradcli.schedules.catalog import REQUIRED, Hyperparameter, Integer, Rule, Scheduler, eta_min


class CosineAnnealingLRRule(Rule):
    closed = True

    def __init__(self, group: dict[str, Any], *, T_max: int, eta_min: float) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(group)

    def get_lr(self) -> float:
        r"""After e scheduler steps, with T = T_max:

            lr_e = η_min + (1 + cos(π·e/T)) / (1 + cos(π·(e − 1)/T))·(lr_{e−1} − η_min)
            lr_e = lr_{e−1} + (base_lr − η_min)·(1 − cos(π/T))/2     when (e − 1 − T) is a
                                                                     multiple of 2T (the
                                                                     bottom, where the ratio
                                                                     would divide by 0)

        The ratio of consecutive cosines, applied to the previous lr; past T_max the cosine
        goes back up. Closed form: η_min + (base_lr − η_min)·(1 + cos(π·e/T))/2, which the
        recursion drifts from in the last digits. Repeats torch's ``get_lr``.
        """
        if self.initial:
            return self.group["lr"]  # type: ignore[no-any-return]
        elif self.step_count == 1 and self.last_epoch > 0:
            return (
                self.eta_min
                + (self.base_lr - self.eta_min)
                * (1 + math.cos((self.last_epoch) * math.pi / self.T_max))
                / 2
            )
        elif (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return (  # type: ignore[no-any-return]
                self.group["lr"]
                + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
            )
        return (  # type: ignore[no-any-return]
            (1 + math.cos(math.pi * self.last_epoch / self.T_max))
            / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
            * (self.group["lr"] - self.eta_min)
            + self.eta_min
        )

    def closed_form(self) -> float:
        return (
            self.eta_min
            + (self.base_lr - self.eta_min)
            * (1 + math.cos(math.pi * self.last_epoch / self.T_max))
            / 2
        )

    def closed_text(self) -> str:
        return (
            f"η_min + (base_lr − η_min)·(1 + cos(π·e/T_max))/2 = {self.eta_min:g} + "
            f"({self.base_lr:g} − {self.eta_min:g})·(1 + cos(π·{self.last_epoch}/{self.T_max}))/2"
        )


SCHEDULERS = (
    Scheduler(
        name="cosineannealinglr",
        torch_class="CosineAnnealingLR",
        summary="a cosine from the base lr down to η_min over T_max steps",
        hyperparameters=(
            Hyperparameter(
                "T_max", REQUIRED, Integer(1), "Steps of the half cosine, >= 1.", tested=(1, 80)
            ),
            eta_min(),
        ),
        rule=CosineAnnealingLRRule,
        example="CosineAnnealingLR(T_max=100)",
    ),
)
