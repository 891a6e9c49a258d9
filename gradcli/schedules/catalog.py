"""What the catalog knows about a learning-rate scheduler, and the hand-written scheduler.

No torch here. Each scheduler module (``gradcli/schedules/steplr.py``, ...) fills one
``Scheduler`` with torch's class name (``torch.optim.lr_scheduler.StepLR``), torch's keyword
names and defaults, the range each value may take, one line of help per keyword, and the
hand-written rule: a subclass of ``Rule`` that repeats torch's own arithmetic, line by line.

The hand-written rules are plain Python on floats, as torch's schedulers are: a parameter
group's ``lr`` is a Python float, so the two agree bit for bit when they do the same
operations in the same order. Most of torch's schedulers update the lr *recursively* from
its previous value (``get_lr()``), which rounds differently from their closed form
(``_get_closed_form_lr()``, used only by the deprecated ``step(epoch)``); ``Rule`` repeats
the recursion and keeps the closed form beside it, so the two can be shown side by side.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from gradcli.optimizers.catalog import (
    REQUIRED,
    Choice,
    Flag,
    Hyperparameter,
    Integer,
    Maybe,
    Real,
    Refused,
    Several,
    plain,
)

__all__ = [
    "NOT_TAKEN",
    "REQUIRED",
    "Choice",
    "Flag",
    "Hyperparameter",
    "Integer",
    "Integers",
    "Maybe",
    "Real",
    "Refused",
    "Rule",
    "Scheduler",
    "Schedulers",
    "Several",
    "shown",
]


# torch keywords gradcli does not take, and why
NOT_TAKEN = {
    "last_epoch": "last_epoch is for resuming torch's scheduler; gradcli starts at step 1",
    "optimizer": "the optimizer is gradcli's own (-o); leave it out",
    "scale_fn": "scale_fn is a Python callable; choose mode='triangular', 'triangular2' or "
    "'exp_range'",
    "scale_mode": "scale_mode only applies with scale_fn, a Python callable; mode sets it",
    "lr_lambda": "a Python callable cannot be given on the command line",
}


def shown(value: object) -> str:
    """A setting as a person reads it (``0.1``, ``[30, 80]``, ``'cos'``, ``LinearLR(...)``)."""
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    if hasattr(value, "text"):  # a nested ScheduleSpec
        return value.text  # type: ignore[attr-defined,no-any-return]
    return plain(value)


@dataclass(frozen=True)
class Integers:
    """A list of whole numbers >= low (``milestones=[30, 80]``), increasing where asked."""

    low: int = 0
    increasing: bool = False
    metavar: str = "[INT, ...]"

    def describe(self) -> str:
        order = " in increasing order" if self.increasing else ""
        return f"a list of integers >= {self.low}{order}"

    def check(self, value: object) -> list[int]:
        if not isinstance(value, list | tuple):
            raise Refused(self.describe())
        try:
            checked = [Integer(self.low).check(v) for v in value]
        except Refused:
            raise Refused(self.describe()) from None
        if self.increasing and any(a > b for a, b in itertools.pairwise(checked)):
            raise Refused(self.describe())
        return checked


@dataclass(frozen=True)
class Schedulers:
    """A list of schedulers, each in torch's constructor syntax (SequentialLR, ChainedScheduler):
    ``[LinearLR(start_factor=0.1, total_iters=5), CosineAnnealingLR(T_max=95)]``. The parser
    builds the specs (ScheduleSpecs); this checks the list."""

    metavar: str = "[SCHEDULER(...), ...]"
    constructors: ClassVar[bool] = True  # the values are constructors, parsed as such

    def describe(self) -> str:
        return (
            "a list of one or more schedulers in constructor syntax (not SequentialLR, "
            "ChainedScheduler or ReduceLROnPlateau)"
        )

    def check(self, value: object) -> list[Any]:
        if not isinstance(value, list) or not value or not all(hasattr(v, "rule") for v in value):
            raise Refused(self.describe())
        if any(v.scheduler.nests or not v.scheduler.stepped_alone for v in value):
            raise Refused(self.describe())
        return list(value)


Allowed = Real | Integer | Flag | Choice | Maybe | Several | Integers | Schedulers


class Rule:
    """torch's ``LRScheduler`` by hand, for one parameter group.

    ``group`` is what torch calls a param_group: a dict with ``lr``, ``initial_lr`` and the
    optimizer's hyperparameters (``momentum`` or ``betas``, which OneCycleLR and CyclicLR
    drive); schedulers of one optimizer share it, as torch's do. The attributes mirror
    torch's (``last_epoch``, ``_step_count`` as ``step_count``, ``base_lrs[0]`` as
    ``base_lr``), so ``state_dict()`` holds what torch's holds for one group.
    """

    closed: bool = False  # whether torch has a _get_closed_form_lr for it

    def __init__(self, group: dict[str, Any]) -> None:
        # LRScheduler.__init__(optimizer, last_epoch=-1)
        self.group = group
        group.setdefault("initial_lr", group["lr"])
        self.base_lr: float = group["initial_lr"]
        self.last_epoch = -1
        self.initial_step()

    def initial_step(self) -> None:
        """The step the constructor takes (torch's ``_initial_step``, in ``_initial_mode``)."""
        self.step_count = 0
        self.initial = True
        try:
            self.step()
        finally:
            self.initial = False

    def step(self, loss: float | None = None) -> None:
        """What ``scheduler.step()`` does, once per training step after ``optimizer.step()``."""
        self.step_count += 1
        self.update_lr()

    def update_lr(self, epoch: int | None = None) -> None:
        """torch's ``_update_lr``: the recursion, or with ``epoch`` the closed form."""
        if epoch is None:
            self.last_epoch += 1
            lr = self.get_lr()
        else:
            self.last_epoch = epoch
            lr = self.closed_form() if self.closed else self.get_lr()
        self.group["lr"] = lr
        self.last_lr = lr

    def get_lr(self) -> float:
        raise NotImplementedError

    def closed_form(self) -> float:
        """torch's ``_get_closed_form_lr`` at ``last_epoch`` (where ``closed``)."""
        raise NotImplementedError

    def closed_text(self) -> str | None:
        """The closed form at ``last_epoch`` with its numbers filled in, where it has one."""
        return None

    def closed_words(self, stepped: int, used: float) -> str:
        """What ``--explain``'s line of the lr adds, for a rule built afresh: torch's closed
        form after ``stepped`` scheduler steps, where an update reads the lr, and whether the
        recursion's lr ``used`` has its bits (it can differ in the last digits); nothing
        where there is no closed form, or torch's divides by 0 there."""
        if not self.closed:
            return ""
        self.last_epoch = stepped
        try:
            closed = self.closed_form()
        except (ArithmeticError, ValueError):
            return ""
        same = "the same bits" if closed == used else f"{closed - used:+.3g} from it"
        text = self.closed_text()
        return f"; closed form {text + ' = ' if text else ''}{closed!r} ({same})"

    def children(self) -> list[Rule]:
        return []

    def state_dict(self) -> dict[str, Any]:
        """Everything but the group, as torch's ``state_dict()`` holds everything but the
        optimizer; the schedulers of SequentialLR and ChainedScheduler as a list of theirs."""
        state = {k: v for k, v in vars(self).items() if k not in ("group", "schedulers")}
        if self.children():
            state["schedulers"] = [child.state_dict() for child in self.children()]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        state = dict(state)
        for child, child_state in zip(self.children(), state.pop("schedulers", []), strict=True):
            child.load_state_dict(child_state)
        vars(self).update(state)


@dataclass(frozen=True)
class Scheduler:
    """Everything gradcli knows about one of torch's learning-rate schedulers, in one place.

    ``rule`` is the hand-written scheduler (a ``Rule`` whose ``get_lr`` docstring is the
    math), constructed as ``rule(group, **keywords)`` with every keyword filled in.
    ``check`` returns what is wrong with a combination of values torch refuses or cannot
    run (a zero-length phase of OneCycleLR), if anything; ``most_steps`` the number of
    training steps it can take, where torch limits it. ``drives_momentum`` names the keyword
    that makes it set the optimizer's momentum (or β1) too. ``stepped_alone``: False for
    ReduceLROnPlateau, whose ``step`` takes the loss (SequentialLR and ChainedScheduler refuse
    it). ``nests``: it takes ``schedulers=[...]``. ``needs_loss``: ``step`` takes the loss.
    """

    name: str
    torch_class: str
    summary: str
    hyperparameters: tuple[Hyperparameter, ...]
    rule: Callable[..., Rule]
    check: Callable[[dict[str, Any]], str | None] | None = None
    most_steps: Callable[[dict[str, Any]], int | None] | None = None
    drives_momentum: str | None = None
    stepped_alone: bool = True
    nests: bool = False
    needs_loss: bool = False
    sets_lr: bool = False  # it replaces the optimizer's lr with its own (OneCycleLR, CyclicLR)
    example: str = ""

    @property
    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.hyperparameters}

    @property
    def required(self) -> list[str]:
        return [h.name for h in self.hyperparameters if h.default is REQUIRED]

    def hyperparameter(self, name: str) -> Hyperparameter | None:
        return next((h for h in self.hyperparameters if h.name == name), None)

    @property
    def keywords(self) -> tuple[Hyperparameter, ...]:
        """Every keyword of its constructor on the command line."""
        return self.hyperparameters

    @property
    def not_taken(self) -> Mapping[str, str]:
        return NOT_TAKEN

    @property
    def constructor_example(self) -> str:
        return self.example or f"{self.torch_class}()"

    @property
    def math(self) -> str:
        """The rule's ``get_lr`` (or ``step``) docstring: the schedule written as math."""
        method = self.rule.get_lr if self.rule.get_lr is not Rule.get_lr else self.rule.step
        return inspect.cleandoc(method.__doc__ or self.rule.__doc__ or "")


# Keywords several schedulers share, with the same meaning and range everywhere.
def gamma(default: Any = 0.1) -> Hyperparameter:
    return Hyperparameter(
        "gamma", default, Real(), "Multiplicative factor of the decay, >= 0.", tested=(0.0, 1.2)
    )


def total_iters(default: int = 5, meaning: str = "") -> Hyperparameter:
    return Hyperparameter("total_iters", default, Integer(0), meaning, tested=(1, 60))


def eta_min() -> Hyperparameter:
    return Hyperparameter(
        "eta_min", 0.0, Real(), "Minimum learning rate η_min >= 0.", tested=(0.0, 0.05)
    )


MOMENTUM_RANGE = Real(0, 1, high_open=True)
