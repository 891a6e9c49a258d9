"""ConstantLR: the lr times a factor until total_iters (torch.optim.lr_scheduler.ConstantLR)."""

from __future__ import annotations

from typing import Any

from gradcli.schedules.catalog import Hyperparameter, Real, Rule, Scheduler, total_iters


class ConstantLRRule(Rule):
    closed = True

    def __init__(self, group: dict[str, Any], *, factor: float, total_iters: int) -> None:
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(group)

    def get_lr(self) -> float:
        r"""After e scheduler steps:

            lr_0 = base_lr·factor
            lr_e = lr_{e−1}·(1 / factor)   at e = total_iters
            lr_e = lr_{e−1}                otherwise

        Closed form: base_lr·(factor + [e >= total_iters]·(1 − factor)); the recursion's
        (base_lr·factor)·(1/factor) is not always base_lr. Repeats torch's ``get_lr``.
        """
        if self.last_epoch == 0:
            return self.group["lr"] * self.factor  # type: ignore[no-any-return]
        if self.last_epoch != self.total_iters:
            return self.group["lr"]  # type: ignore[no-any-return]
        return self.group["lr"] * (1.0 / self.factor)  # type: ignore[no-any-return]

    def closed_form(self) -> float:
        return self.base_lr * (
            self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)
        )

    def closed_text(self) -> str:
        done = int(self.last_epoch >= self.total_iters)
        return (
            f"base_lr·(factor + [e ≥ total_iters]·(1 − factor)) = "
            f"{self.base_lr:g}·({self.factor:g} + {done}·(1 − {self.factor:g}))"
        )


SCHEDULERS = (
    Scheduler(
        name="constantlr",
        torch_class="ConstantLR",
        summary="the lr times factor for the first total_iters steps",
        hyperparameters=(
            Hyperparameter(
                "factor",
                1.0 / 3,
                Real(0, 1, low_open=True),
                "The factor, in (0, 1] (torch takes 0, then divides by it at total_iters).",
            ),
            total_iters(5, "Steps at the reduced lr, >= 0."),
        ),
        rule=ConstantLRRule,
        example="ConstantLR(factor=0.5, total_iters=4)",
    ),
)
