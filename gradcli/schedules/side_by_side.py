"""One schedule run both ways, step by step: by hand (``Schedule``) and by torch's own
scheduler on a real torch optimizer, stepped as a training loop steps them:
``optimizer.step(); scheduler.step()``, one step at a time, as the rows are asked for.
Imports torch inside ``torch_run`` only."""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from gradcli.errors import GradcliError
from gradcli.schedules.schedule import Schedule
from gradcli.schedules.schedule_spec import ScheduleSpec


def same_bits(a: float | None, b: float | None) -> bool:
    """The same 64 bits (so 0.0 and −0.0 differ, and a NaN equals itself)."""
    if a is None or b is None:
        return a is b
    return struct.pack("<d", a) == struct.pack("<d", b)


@dataclass(frozen=True)
class ScheduleRow:
    """Training step ``step`` (1-based): the lr (and momentum or β1) its update uses, by hand
    and by torch; torch's closed form at that step where it has one; the loss the step fed
    ReduceLROnPlateau."""

    step: int
    lr: float
    torch_lr: float
    closed_form: float | None = None
    momentum: float | None = None
    torch_momentum: float | None = None
    loss: float | None = None

    @property
    def bit_identical(self) -> bool:
        return same_bits(self.lr, self.torch_lr) and same_bits(self.momentum, self.torch_momentum)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "lr": self.lr,
            "torch_lr": self.torch_lr,
            "bit_identical": self.bit_identical,
            "closed_form": self.closed_form,
            "momentum": self.momentum,
            "torch_momentum": self.torch_momentum,
            "loss": self.loss,
        }


FIELDS = (
    "step",
    "lr",
    "torch_lr",
    "bit_identical",
    "closed_form",
    "momentum",
    "torch_momentum",
    "loss",
)


class SyntheticLosses(Sequence[float]):
    """The losses fed to ReduceLROnPlateau without ``--losses``: L_t = 1 + 9·0.8^t, a curve
    that falls fast and then flattens, so that with torch's defaults (patience 10, threshold
    1e-4 relative) the improvements stop counting after step 52: the lr of step 64 is the
    first reduced, then every 11th. With mode='max', the rising mirror 10 − 9·0.8^t. Each
    computed when asked, so that a long schedule streams in constant memory."""

    def __init__(self, steps: int, mode: str = "min") -> None:
        self.steps = steps
        self.mode = mode

    def __len__(self) -> int:
        return self.steps

    @overload
    def __getitem__(self, index: int) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...

    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.steps))]
        t = (index + self.steps if index < 0 else index) + 1
        if not 1 <= t <= self.steps:
            raise IndexError(index)
        return 10 - 9 * 0.8**t if self.mode == "max" else 1 + 9 * 0.8**t


HandRow = tuple[float, float | None, float | None]


def hand_run(
    spec: ScheduleSpec,
    steps: int,
    lr: float,
    hyperparameters: Mapping[str, Any],
    losses: Sequence[float] | None,
) -> tuple[Iterator[HandRow], str | None]:
    """(lr, closed form, momentum) of each step by hand, as they are asked for, and which
    momentum it is."""
    schedule = _checked(spec, Schedule, spec, lr, hyperparameters)

    def rows() -> Iterator[HandRow]:
        for step in range(steps):
            yield schedule.lr, _closed(schedule), schedule.momentum
            _checked(spec, schedule.step, None if losses is None else losses[step])

    return rows(), schedule.momentum_key


T = TypeVar("T")


def _checked(spec: ScheduleSpec, compute: Callable[..., T], *args: Any) -> T:
    """``compute(*args)``, its arithmetic's failure one line naming the schedule."""
    try:
        return compute(*args)
    except (ArithmeticError, ValueError) as error:
        raise GradcliError(f"{spec.text}, by hand: {error}") from None


def _closed(schedule: Schedule) -> float | None:
    try:
        return schedule.closed_form()
    except (ArithmeticError, ValueError):  # torch's closed form divides by 0 or overflows too
        return None


@contextmanager
def _torch_says(spec: ScheduleSpec) -> Iterator[None]:
    """torch's warnings dropped (they are not gradcli's to print), its errors one line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except Exception as error:
            message = " ".join(str(error).split()) or type(error).__name__
            raise GradcliError(
                f"torch.optim.lr_scheduler.{spec.scheduler.torch_class}: {message}"
            ) from None


def torch_run(
    spec: ScheduleSpec,
    steps: int,
    lr: float,
    torch_class: str,
    settings: Mapping[str, Any],
    losses: Sequence[float] | None,
    closure: bool = False,
) -> Iterator[tuple[float, float | None]]:
    """(lr, momentum) of each step from torch's scheduler on torch.optim.<torch_class> over one
    parameter without a gradient (every optimizer skips it: only the lr matters here), as
    they are asked for; the scheduler is built (or refused) at once."""
    import torch

    from gradcli.schedules.torch_side import build as build_torch_scheduler

    with _torch_says(spec):
        param = torch.nn.Parameter(torch.zeros(2, 2))
        optimizer = getattr(torch.optim, torch_class)([param], lr=lr, **settings)
        scheduler = build_torch_scheduler(spec, optimizer)
    driven = spec.drives_momentum

    def rows() -> Iterator[tuple[float, float | None]]:
        for step in range(steps):
            group = optimizer.param_groups[0]
            momentum = None
            if driven:
                momentum = group["betas"][0] if "betas" in group else group["momentum"]
            yield float(group["lr"]), None if momentum is None else float(momentum)
            with _torch_says(spec):  # (after the hand-written step: its failure speaks first)
                if closure:  # LBFGS re-evaluates the loss itself
                    optimizer.step(lambda: torch.zeros(()))
                else:
                    optimizer.step()
                if losses is not None:
                    scheduler.step(losses[step])
                else:
                    scheduler.step()

    return rows()


def side_by_side(
    spec: ScheduleSpec,
    steps: int,
    lr: float,
    optimizer: Any,
    settings: Mapping[str, Any],
    losses: Sequence[float] | None = None,
) -> tuple[Iterator[ScheduleRow], str | None]:
    """Every step's row, computed as it is asked for (``gradcli schedule --steps 10**8 -f
    jsonl | head`` ends at once, in constant memory), and ``momentum`` / ``beta1`` (what
    the momentum columns hold) or None. ``optimizer`` is the catalog's ``Optimizer``. A
    schedule that cannot be built is refused before any row."""
    hyperparameters = {**optimizer.defaults, **settings}
    hand, key = hand_run(spec, steps, lr, hyperparameters, losses)
    with_torch = torch_run(
        spec,
        steps,
        lr,
        optimizer.torch_class,
        settings,
        losses,
        getattr(optimizer, "closure", False),
    )
    rows = (
        ScheduleRow(
            step=step,
            lr=hand_lr,
            torch_lr=torch_lr,
            closed_form=closed,
            momentum=momentum,
            torch_momentum=torch_momentum,
            loss=None if losses is None else losses[step - 1],
        )
        for step, ((hand_lr, closed, momentum), (torch_lr, torch_momentum)) in enumerate(
            zip(hand, with_torch, strict=True), start=1
        )
    )
    return rows, key


def parse_losses(text: str) -> list[float]:
    """``--losses '2.5,1.9,1.7'`` → the numbers (finite ones only)."""
    found = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise GradcliError(
                f"--losses: {part.strip()!r} is not a number; give one loss per step, "
                "comma-separated, e.g. --losses 2.5,1.9,1.7"
            ) from None
        if not math.isfinite(value):
            raise GradcliError(f"--losses: {part.strip()!r} is not finite")
        found.append(value)
    return found
