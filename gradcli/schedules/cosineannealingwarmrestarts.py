"""CosineAnnealingWarmRestarts: cosine annealing restarted every T_i steps, T_i growing by
T_mult (SGDR; torch.optim.lr_scheduler.CosineAnnealingWarmRestarts)."""

from __future__ import annotations

import math
from typing import Any

from gradcli.schedules.catalog import REQUIRED, Hyperparameter, Integer, Rule, Scheduler, eta_min


class CosineAnnealingWarmRestartsRule(Rule):
    def __init__(self, group: dict[str, Any], *, T_0: int, T_mult: int, eta_min: float) -> None:
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = -1  # last_epoch
        super().__init__(group)

    def get_lr(self) -> float:
        r"""With T_cur the steps since the last restart and T_i the current period:

            lr = η_min + (base_lr − η_min)·(1 + cos(π·T_cur/T_i))/2
            after each step: T_cur ← T_cur + 1; at T_cur = T_i: T_cur ← 0, T_i ← T_i·T_mult

        Not recursive: every lr is computed from the base lr. Repeats torch's ``get_lr`` and
        ``step``.
        """
        return (
            self.eta_min
            + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        )

    def step(self, loss: float | None = None) -> None:
        epoch: int | None = None
        if self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:  # the constructor's step (epoch 0 < T_0)
            self.T_i = self.T_0
            self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        lr = self.get_lr()
        self.group["lr"] = lr
        self.last_lr = lr


SCHEDULERS = (
    Scheduler(
        name="cosineannealingwarmrestarts",
        torch_class="CosineAnnealingWarmRestarts",
        summary="cosine annealing restarted every T_i steps, T_i growing by T_mult (SGDR)",
        hyperparameters=(
            Hyperparameter(
                "T_0", REQUIRED, Integer(1), "Steps until the first restart, >= 1.", tested=(1, 40)
            ),
            Hyperparameter(
                "T_mult", 1, Integer(1), "Factor of each period over the last, >= 1.", tested=(1, 3)
            ),
            eta_min(),
        ),
        rule=CosineAnnealingWarmRestartsRule,
        example="CosineAnnealingWarmRestarts(T_0=10, T_mult=2)",
    ),
)
