"""A schedule as the user wrote it, in torch's constructor syntax, parsed and checked.

``parse_schedule('OneCycleLR(max_lr=0.1, total_steps=100)')`` reads the text with the one
constructor parser (``gradcli.constructor``: literal values only, never evaluated), which
checks every keyword against the catalog: a bad name, keyword or value is a ``GradcliError``
of one line that names it and says what is allowed. Constructors nest only inside
``schedulers=[...]`` of SequentialLR and ChainedScheduler. No torch here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gradcli import constructor
from gradcli.errors import GradcliError
from gradcli.schedules import find
from gradcli.schedules.catalog import REQUIRED, Rule, Scheduler, shown


@dataclass(frozen=True, eq=False)
class ScheduleSpec:
    """One scheduler and the keywords the user set (checked); torch's defaults fill the rest.
    SequentialLR's and ChainedScheduler's ``schedulers`` hold ScheduleSpecs."""

    scheduler: Scheduler
    settings: Mapping[str, Any]

    @property
    def keywords(self) -> dict[str, Any]:
        """Every keyword of torch's constructor, defaults filled in."""
        return {**self.scheduler.defaults, **self.settings}

    @property
    def text(self) -> str:
        """torch's constructor for it: ``StepLR(step_size=30, gamma=0.5)``."""
        given = ", ".join(f"{k}={shown(v)}" for k, v in self.settings.items())
        return f"{self.scheduler.torch_class}({given})"

    def rule(self, group: dict[str, Any]) -> Rule:
        """The hand-written scheduler on ``group`` (built as torch builds its own); those of
        SequentialLR and ChainedScheduler take their schedulers as what builds each on the
        group (``spec.rule``), as a script writes them (``functools.partial``)."""
        keywords = self.keywords
        if self.scheduler.nests:
            keywords["schedulers"] = [child.rule for child in self.children()]
        return self.scheduler.rule(group, **keywords)

    def children(self) -> list[ScheduleSpec]:
        return list(self.settings.get("schedulers", [])) if self.scheduler.nests else []

    @property
    def drives_momentum(self) -> bool:
        """Whether it sets the optimizer's momentum (or β1) each step too."""
        own = self.scheduler.drives_momentum
        return bool(own and self.keywords[own]) or any(c.drives_momentum for c in self.children())

    @property
    def most_steps(self) -> int | None:
        """How many training steps torch lets it take (OneCycleLR: total_steps), if limited.
        (Inside SequentialLR the limit counts the steps that scheduler takes: its rule says
        when it is passed.)"""
        if self.scheduler.most_steps is None:
            return None
        return self.scheduler.most_steps(self.keywords)


def lacks_momentum(
    spec: ScheduleSpec, hyperparameters: Mapping[str, Any], torch_class: str
) -> str | None:
    """What is wrong where ``spec`` sets the optimizer's momentum or β1 and the optimizer
    (``torch_class``, with these keywords) has neither; None where nothing is."""
    if not spec.drives_momentum or {"momentum", "betas"} & set(hyperparameters):
        return None
    own = spec.scheduler.drives_momentum or "cycle_momentum"
    return (
        f"it sets the optimizer's momentum or β1 ({own}=True), and {torch_class} has neither; "
        f"choose another -o, or set {own}=False"
    )


def parse_schedule(text: str, where: str = "--schedule") -> ScheduleSpec:
    """``StepLR(step_size=30, gamma=0.5)`` (torch's constructor, keywords by torch's names)
    → its checked spec. ``where`` starts every error's line."""
    return constructor.parse_constructor(
        text, where, find=find, build=_spec, shape="a scheduler like 'StepLR(step_size=30)'"
    )


def _spec(scheduler: Scheduler, settings: dict[str, Any], where: str) -> ScheduleSpec:
    if scheduler.check is not None:
        wrong = scheduler.check({**scheduler.defaults, **settings})
        if wrong:
            raise GradcliError(f"{where}: {wrong}")
    return ScheduleSpec(scheduler, settings)


__all__ = ["REQUIRED", "ScheduleSpec", "lacks_momentum", "parse_schedule"]
