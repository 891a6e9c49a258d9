"""ExponentialLR: the lr times γ every step (torch.optim.lr_scheduler.ExponentialLR)."""

from __future__ import annotations

from typing import Any

from gradcli.schedules.catalog import REQUIRED, Rule, Scheduler, gamma


class ExponentialLRRule(Rule):
    closed = True

    def __init__(self, group: dict[str, Any], *, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(group)

    def get_lr(self) -> float:
        r"""After e scheduler steps:

            lr_e = lr_{e−1}·γ      (lr_0 = base_lr)

        Closed form: base_lr·γ^e, which rounds once where the recursion rounds e times.
        Repeats torch's ``get_lr``.
        """
        if self.initial:
            return self.group["lr"]  # type: ignore[no-any-return]
        return self.group["lr"] * self.gamma  # type: ignore[no-any-return]

    def closed_form(self) -> float:
        return self.base_lr * self.gamma**self.last_epoch

    def closed_text(self) -> str:
        return f"base_lr·γ^e = {self.base_lr:g}·{self.gamma:g}^{self.last_epoch}"


SCHEDULERS = (
    Scheduler(
        name="exponentiallr",
        torch_class="ExponentialLR",
        summary="the lr times γ every step",
        hyperparameters=(gamma(REQUIRED),),
        rule=ExponentialLRRule,
        example="ExponentialLR(gamma=0.95)",
    ),
)
