"""The schedule catalog: one module per scheduler of ``torch.optim.lr_scheduler``, found here
without importing torch.

Each module in this package (``steplr.py``, ``onecyclelr.py``, ...) ends with
``SCHEDULERS = (...)``: the ``Scheduler`` descriptions it holds (see ``catalog.py``). Their
hand-written rules are plain Python on floats and import nothing heavy, so the command line,
its help and its errors read names, keywords, defaults, ranges and help at the cost of a few
small imports. Adding a scheduler is adding a module; nothing else changes.

For a training loop: ``parse_schedule(text)`` gives a ``ScheduleSpec``; ``Schedule(spec, lr,
hyperparameters)`` runs it by hand (``.lr``, ``.momentum``, ``.step(loss)``, ``state_dict()``)
and ``build_torch_scheduler(spec, optimizer)`` builds torch's own from the same spec.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache
from typing import Any

from gradcli.errors import GradcliError
from gradcli.schedules.catalog import Scheduler
from gradcli.schedules.schedule import Schedule
from gradcli.schedules.spec import ScheduleSpec, parse_schedule

_NOT_MODULES = ("catalog", "spec", "schedule", "torch_side", "side_by_side")


@cache
def catalog() -> dict[str, Scheduler]:
    """Every scheduler by gradcli's name (torch's class name in lower case), sorted."""
    found: dict[str, Scheduler] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name in _NOT_MODULES:
            continue
        for scheduler in getattr(
            importlib.import_module(f"{__name__}.{module.name}"), "SCHEDULERS", ()
        ):
            found[scheduler.name] = scheduler
    return dict(sorted(found.items()))


def names() -> list[str]:
    return [s.torch_class for s in catalog().values()]


def find(name: str, where: str = "--schedule") -> Scheduler:
    """The scheduler called ``name``, case-insensitively (``StepLR``, ``steplr``)."""
    scheduler = catalog().get(name.strip().lower())
    if scheduler is None:
        close = difflib.get_close_matches(name.lower(), list(catalog()), n=1, cutoff=0.6)
        hint = f" (did you mean {catalog()[close[0]].torch_class}?)" if close else ""
        raise GradcliError(
            f"{where}: unknown scheduler {name!r}{hint}; choose one of: {', '.join(names())}"
        )
    return scheduler


def build_torch_scheduler(spec: ScheduleSpec, optimizer: Any) -> Any:
    """torch's own scheduler for ``spec`` on ``optimizer`` (imports torch)."""
    from gradcli.schedules.torch_side import build

    return build(spec, optimizer)


__all__ = [
    "Schedule",
    "ScheduleSpec",
    "Scheduler",
    "build_torch_scheduler",
    "catalog",
    "find",
    "names",
    "parse_schedule",
]
