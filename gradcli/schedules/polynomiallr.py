"""PolynomialLR: the lr decays as (1 − e/T)^power to 0 at total_iters
(torch.optim.lr_scheduler.PolynomialLR)."""

from __future__ import annotations

from typing import Any

from gradcli.schedules.catalog import Hyperparameter, Real, Rule, Scheduler, total_iters


class PolynomialLRRule(Rule):
    closed = True

    def __init__(self, group: dict[str, Any], *, total_iters: int, power: float) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(group)

    def get_lr(self) -> float:
        r"""After e scheduler steps, with T = total_iters and p = power:

            lr_e = lr_{e−1}·((1 − e/T) / (1 − (e − 1)/T))^p    for 0 < e <= T
            lr_e = lr_{e−1}                                   for e > T     (lr_0 = base_lr)

        Closed form: base_lr·(1 − min(T, e)/T)^p. Repeats torch's ``get_lr``.
        """
        if self.initial or self.last_epoch > self.total_iters:
            return self.group["lr"]  # type: ignore[no-any-return]
        decay_factor = (
            (1.0 - self.last_epoch / self.total_iters)
            / (1.0 - (self.last_epoch - 1) / self.total_iters)
        ) ** self.power
        return self.group["lr"] * decay_factor  # type: ignore[no-any-return]

    def closed_form(self) -> float:
        return (
            self.base_lr
            * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
        )

    def closed_text(self) -> str:
        e = min(self.total_iters, self.last_epoch)
        return (
            f"base_lr·(1 − min(T, e)/T)^p = {self.base_lr:g}·(1 − {e}/{self.total_iters})"
            f"^{self.power:g}"
        )


SCHEDULERS = (
    Scheduler(
        name="polynomiallr",
        torch_class="PolynomialLR",
        summary="the lr decays polynomially to 0 at total_iters",
        hyperparameters=(
            total_iters(5, "Steps to reach 0, >= 0."),
            Hyperparameter(
                "power", 1.0, Real(), "The power p >= 0 of the polynomial.", tested=(0.0, 3.0)
            ),
        ),
        rule=PolynomialLRRule,
        example="PolynomialLR(total_iters=100, power=2.0)",
    ),
)
