"""LinearLR: the lr's factor moves linearly from start_factor to end_factor
(torch.optim.lr_scheduler.LinearLR)."""

from __future__ import annotations

from typing import Any

from gradcli.schedules.catalog import Hyperparameter, Real, Rule, Scheduler, total_iters


class LinearLRRule(Rule):
    closed = True

    def __init__(
        self, group: dict[str, Any], *, start_factor: float, end_factor: float, total_iters: int
    ) -> None:
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(group)

    def get_lr(self) -> float:
        r"""After e scheduler steps, with s = start_factor, f = end_factor, T = total_iters:

            lr_0 = base_lr·s
            lr_e = lr_{e−1}·(1 + (f − s) / (T·s + (e − 1)·(f − s)))   for 0 < e <= T
            lr_e = lr_{e−1}                                          for e > T

        The ratio of consecutive factors, applied to the previous lr. Closed form:
        base_lr·(s + (f − s)·min(T, e) / T). Repeats torch's ``get_lr``.
        """
        if self.last_epoch == 0:
            return self.group["lr"] * self.start_factor  # type: ignore[no-any-return]
        if self.initial or self.last_epoch > self.total_iters:
            return self.group["lr"]  # type: ignore[no-any-return]
        return self.group["lr"] * (  # type: ignore[no-any-return]
            1.0
            + (self.end_factor - self.start_factor)
            / (
                self.total_iters * self.start_factor
                + (self.last_epoch - 1) * (self.end_factor - self.start_factor)
            )
        )

    def closed_form(self) -> float:
        return self.base_lr * (
            self.start_factor
            + (self.end_factor - self.start_factor)
            * min(self.total_iters, self.last_epoch)
            / self.total_iters
        )

    def closed_text(self) -> str:
        e = min(self.total_iters, self.last_epoch)
        return (
            f"base_lr·(start + (end − start)·min(T, e)/T) = {self.base_lr:g}·"
            f"({self.start_factor:g} + ({self.end_factor:g} − {self.start_factor:g})·"
            f"{e}/{self.total_iters})"
        )


SCHEDULERS = (
    Scheduler(
        name="linearlr",
        torch_class="LinearLR",
        summary="the lr's factor moves linearly from start_factor to end_factor (warm-up)",
        hyperparameters=(
            Hyperparameter(
                "start_factor", 1.0 / 3, Real(0, 1, low_open=True), "Factor at step 1, in (0, 1]."
            ),
            Hyperparameter("end_factor", 1.0, Real(0, 1), "Factor from total_iters on, in [0, 1]."),
            total_iters(5, "Steps the factor takes to reach end_factor, >= 0."),
        ),
        rule=LinearLRRule,
        example="LinearLR(start_factor=0.1, total_iters=10)",
    ),
)
