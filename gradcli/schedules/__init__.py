"""The schedule catalog: one module per scheduler of ``torch.optim.lr_scheduler``, found here
without importing torch.

Each module in this package (``steplr.py``, ``onecyclelr.py``, ...) ends with
``SCHEDULERS = (...)``: the ``Scheduler`` descriptions it holds (see ``catalog.py``). Their
hand-written rules are plain Python on floats and import nothing heavy, so the command line,
its help and its errors read names, keywords, defaults, ranges and help at the cost of a few
small imports. Adding a scheduler is adding a module; nothing else changes.

This index imports only ``catalog.py``; the modules that use it import it, never the other
way. For a training loop: ``schedule_spec.parse_schedule(text)`` gives a ``ScheduleSpec``;
``schedule.Schedule(spec, lr, hyperparameters)`` runs it by hand (``.lr``, ``.momentum``,
``.step(loss)``, ``state_dict()``) and ``torch_side.build(spec, optimizer)`` builds torch's
own from the same spec.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache

from gradcli.errors import GradcliError
from gradcli.schedules.catalog import Scheduler

# the modules here that hold no scheduler (and import this index)
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
    """The schedulers as a user writes them: torch's class names (``StepLR``)."""
    return [_called(s) for s in catalog().values()]


def _called(scheduler: Scheduler) -> str:
    """torch's class name, or the module's own name where it is not that class's (a module
    that runs torch's StepLR by another rule, as a test's toy does)."""
    same = scheduler.torch_class.lower() == scheduler.name
    return scheduler.torch_class if same else scheduler.name


def find(name: str, where: str = "--schedule") -> Scheduler:
    """The scheduler called ``name``, case-insensitively (``StepLR``, ``steplr``)."""
    scheduler = catalog().get(name.strip().lower())
    if scheduler is None:
        close = difflib.get_close_matches(name.lower(), list(catalog()), n=1, cutoff=0.6)
        hint = f" (did you mean {_called(catalog()[close[0]])}?)" if close else ""
        raise GradcliError(
            f"{where}: unknown scheduler {name!r}{hint}; choose one of: {', '.join(names())}"
        )
    return scheduler


__all__ = ["Scheduler", "catalog", "find", "names"]
