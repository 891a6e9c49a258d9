"""ReduceLROnPlateau: the lr times factor when the loss stops improving
(torch.optim.lr_scheduler.ReduceLROnPlateau)."""

from __future__ import annotations

import math
from typing import Any

from gradcli.schedules.catalog import Choice, Hyperparameter, Integer, Real, Rule, Scheduler


class ReduceLROnPlateauRule(Rule):
    def __init__(
        self,
        group: dict[str, Any],
        *,
        mode: str,
        factor: float,
        patience: int,
        threshold: float,
        threshold_mode: str,
        cooldown: int,
        min_lr: float,
        eps: float,
    ) -> None:
        # no LRScheduler.__init__: no initial step, the lr is left as it is
        self.group = group
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self.last_lr = group["lr"]
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, loss: float | None = None) -> None:
        r"""After each step, told the step's loss L (mode 'min'; 'max' for a score):

            better: L < best·(1 − threshold)  ('rel')  or  L < best − threshold  ('abs')
            if better: best ← L, bad ← 0;  else bad ← bad + 1
            in cooldown: cooldown ← cooldown − 1, bad ← 0
            if bad > patience: lr ← max(lr·factor, min_lr) unless that changes it by <= eps;
                               cooldown ← cooldown steps, bad ← 0

        Repeats torch's ``step(metrics)``.
        """
        current = float(loss)  # type: ignore[arg-type]
        self.last_epoch = self.last_epoch + 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # ignore any bad epochs in cooldown
        if self.num_bad_epochs > self.patience:
            old_lr = float(self.group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                self.group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self.last_lr = self.group["lr"]


SCHEDULERS = (
    Scheduler(
        name="reducelronplateau",
        torch_class="ReduceLROnPlateau",
        summary="the lr times factor when the loss stops improving (stepped with the loss)",
        hyperparameters=(
            Hyperparameter("mode", "min", Choice(("min", "max")), "'min': a loss; 'max': a score."),
            Hyperparameter("factor", 0.1, Real(0, 1, high_open=True), "lr ← lr·factor, in [0, 1)."),
            Hyperparameter(
                "patience", 10, Integer(0), "Steps without improvement allowed.", tested=(0, 15)
            ),
            Hyperparameter(
                "threshold", 1e-4, Real(), "What counts as an improvement, >= 0.", tested=(0.0, 0.1)
            ),
            Hyperparameter(
                "threshold_mode", "rel", Choice(("rel", "abs")), "Threshold relative or absolute."
            ),
            Hyperparameter(
                "cooldown", 0, Integer(0), "Steps to wait after a reduction.", tested=(0, 5)
            ),
            Hyperparameter(
                "min_lr",
                0,
                Real(),
                "Lowest lr, >= 0 (torch's default: the int 0).",
                tested=(0.0, 0.01),
            ),
            Hyperparameter(
                "eps",
                1e-8,
                Real(),
                "Smaller changes of the lr are skipped, >= 0.",
                tested=(0.0, 1e-6),
            ),
        ),
        rule=ReduceLROnPlateauRule,
        stepped_alone=False,
        needs_loss=True,
        example="ReduceLROnPlateau(factor=0.5, patience=5)",
    ),
)
