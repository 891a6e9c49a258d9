"""A schedule as the user wrote it, in torch's constructor syntax, parsed and checked.

``parse_schedule('OneCycleLR(max_lr=0.1, total_steps=100)')`` reads the text with Python's
``ast`` (literal values only, never evaluated) and checks every keyword against the catalog:
a bad name, keyword or value is a ``GradcliError`` of one line that names it and says what is
allowed. Constructors nest only inside ``schedulers=[...]`` of SequentialLR and
ChainedScheduler. No torch here.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gradcli.errors import GradcliError
from gradcli.optimizers.catalog import Real, Refused
from gradcli.schedules.catalog import REQUIRED, Rule, Scheduler, Schedulers, shown

LITERALS = "a literal value (a number, string, True/False, None, or a list or tuple of them)"
# torch keywords gradcli does not take, and why
NOT_TAKEN = {
    "last_epoch": "last_epoch is for resuming torch's scheduler; gradcli starts at step 1",
    "optimizer": "the optimizer is gradcli's own (-o); leave it out",
    "scale_fn": "scale_fn is a Python callable; choose mode='triangular', 'triangular2' or "
    "'exp_range'",
    "scale_mode": "scale_mode only applies with scale_fn, a Python callable; mode sets it",
    "lr_lambda": "a Python callable cannot be given on the command line",
}


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
        """The hand-written scheduler on ``group`` (built as torch builds its own)."""
        return self.scheduler.rule(group, **self.keywords)

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
    label = f"{where} {text}"
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise GradcliError(f"{label}: not a scheduler like 'StepLR(step_size=30)'") from None
    return _spec(tree, label, nested=False)


def _spec(tree: ast.expr, label: str, *, nested: bool) -> ScheduleSpec:
    from gradcli.schedules import find

    if isinstance(tree, ast.Name):
        tree = ast.Call(func=tree, args=[], keywords=[])
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name):
        raise GradcliError(f"{label}: not a scheduler like 'StepLR(step_size=30)'")
    scheduler = find(tree.func.id, label)
    where = f"{label}: {scheduler.torch_class}" if nested else label
    # torch's first argument is the optimizer: ``StepLR(optimizer, step_size=30)`` reads as in
    # a training script; the name is ignored (gradcli passes its own optimizer).
    if len(tree.args) > 1 or (tree.args and not isinstance(tree.args[0], ast.Name)):
        raise GradcliError(f"{where}: give the keywords by name, e.g. {_example(scheduler)}")
    settings: dict[str, Any] = {}
    for keyword in tree.keywords:
        name = keyword.arg
        if name is None:
            raise GradcliError(f"{where}: give the keywords by name, not **mapping")
        h = scheduler.hyperparameter(name)
        if h is None:
            raise _unknown_keyword(scheduler, name, where)
        if name in settings:
            raise GradcliError(f"{where}: {name} is given twice")
        if isinstance(h.allowed, Schedulers):
            value: Any = _nested(keyword.value, f"{where}: {name}", label)
        else:
            try:
                value = ast.literal_eval(keyword.value)
            except (ValueError, SyntaxError, TypeError):
                raise GradcliError(
                    f"{where}: {name} must be {LITERALS}, got {ast.unparse(keyword.value)}"
                ) from None
        settings[name] = _checked(f"{where}: {name}", h.allowed, value)
    missing = [n for n in scheduler.required if n not in settings]
    if missing:
        needs = ", ".join(
            f"{n} ({scheduler.hyperparameter(n).allowed.describe()})" for n in missing
        )  # type: ignore[union-attr]
        raise GradcliError(f"{where}: {scheduler.torch_class} needs {needs}")
    if scheduler.check is not None:
        wrong = scheduler.check({**scheduler.defaults, **settings})
        if wrong:
            raise GradcliError(f"{where}: {wrong}")
    return ScheduleSpec(scheduler, settings)


def _nested(node: ast.expr, where: str, label: str) -> list[ScheduleSpec]:
    if not isinstance(node, ast.List | ast.Tuple) or not node.elts:
        raise GradcliError(f"{where} must be {Schedulers().describe()}, got {ast.unparse(node)}")
    return [_spec(element, label, nested=True) for element in node.elts]


def _example(scheduler: Scheduler) -> str:
    return scheduler.example or f"{scheduler.torch_class}()"


def _unknown_keyword(scheduler: Scheduler, keyword: str, where: str) -> GradcliError:
    takes = [h.name for h in scheduler.hyperparameters]
    if keyword in NOT_TAKEN:
        return GradcliError(f"{where}: {NOT_TAKEN[keyword]}")
    close = difflib.get_close_matches(keyword, takes, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return GradcliError(
        f"{where}: {scheduler.torch_class} has no keyword {keyword!r}{hint}; "
        f"it takes: {', '.join(takes) or 'nothing'}"
    )


def _checked(label: str, allowed: Any, value: object) -> Any:
    try:
        return allowed.check(value)
    except Refused as refused:
        shown_value = float(value) if isinstance(allowed, Real) and _is_int(value) else value
        if isinstance(shown_value, list) and isinstance(allowed, Schedulers):
            shown_value = "[" + ", ".join(s.text for s in shown_value) + "]"  # type: ignore[attr-defined]
            raise GradcliError(f"{label} must be {refused}, got {shown_value}") from None
        raise GradcliError(f"{label} must be {refused}, got {shown_value!r}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = ["REQUIRED", "ScheduleSpec", "parse_schedule"]
