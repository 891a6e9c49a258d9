"""The optimizer catalog: one module per optimizer, found here without importing torch.

Each module in this package (``sgd.py``, ``adam.py``, ...) ends with
``OPTIMIZERS = (...)``: the ``Optimizer`` descriptions it holds (see ``catalog.py``). This
index imports every such module — they import torch only inside their rules — so the
command line, the spec, config files and shell completion can read names, keywords,
defaults, ranges and help at the cost of a few small imports. Adding an optimizer is adding
a module; nothing else changes. Modules whose names start with ``_`` hold shared code.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Mapping
from functools import cache
from typing import Any

from gradcli.errors import GradcliError, did_you_mean
from gradcli.optimizers.catalog import Hyperparameter, Optimizer


@cache
def catalog() -> dict[str, Optimizer]:
    """Every optimizer by gradcli's name (torch's class name in lower case), sorted."""
    found: dict[str, Optimizer] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        for optimizer in getattr(
            importlib.import_module(f"{__name__}.{module.name}"), "OPTIMIZERS", ()
        ):
            found[optimizer.name] = optimizer
    return dict(sorted(found.items()))


def names() -> list[str]:
    return list(catalog())


def find(name: str, where: str = "--optimizer") -> Optimizer:
    """The optimizer called ``name``, case-insensitively (``adam``, ``Adam``, ``ADAMW``)."""
    optimizer = catalog().get(name.strip().lower())
    if optimizer is None:
        hint = did_you_mean(name.lower(), names())
        raise GradcliError(
            f"{where}: unknown optimizer {name!r}{hint}; choose one of: {', '.join(names())}"
        )
    return optimizer


def compared_by_default() -> list[str]:
    """The classics ``gradcli compare`` runs without ``-o`` (``compared_by_default`` in their
    modules), in catalog order."""
    return [o.name for o in catalog().values() if o.compared_by_default]


@cache
def options() -> dict[str, list[tuple[Optimizer, Hyperparameter, int | None]]]:
    """Every command-line option a hyperparameter gives, in catalog order: its name (torch's
    keyword, or a shorthand like ``beta1``) → (optimizer, hyperparameter, index of the part
    it sets or None) for each optimizer that takes it."""
    found: dict[str, list[tuple[Optimizer, Hyperparameter, int | None]]] = {}
    for optimizer in catalog().values():
        for h in optimizer.hyperparameters:
            found.setdefault(h.name, []).append((optimizer, h, None))
            for index, shorthand in enumerate(h.shorthands):
                found.setdefault(shorthand, []).append((optimizer, h, index))
    return found


def default_lr(optimizer: Optimizer, model: str, problem: Any = None) -> float:
    """The learning rate a run starts from: a user's problem's own choice (its module may
    say ``default_lrs = {"sgd": 0.1}``), else the optimizer's for a built-in problem (its
    module's ``lrs``: the one place they are kept), else torch's."""
    own = getattr(problem, "default_lrs", None) or {}
    if not isinstance(own, Mapping):
        raise GradcliError(
            f"--model {model}: default_lrs must map optimizer names to learning rates, got "
            f"{type(own).__name__}"
        )
    if optimizer.name in own:
        lr = own[optimizer.name]
        ok = isinstance(lr, int | float) and not isinstance(lr, bool)
        if ok:
            try:
                ok = math.isfinite(float(lr)) and float(lr) >= 0
            except OverflowError:  # (an integer of hundreds of digits)
                ok = False
        if not ok:
            shown = repr(lr) if len(repr(lr)) <= 60 else repr(lr)[:59] + "…"
            raise GradcliError(
                f"--model {model}: default_lrs[{optimizer.name!r}] must be a finite number >= 0, "
                f"got {shown}; fix it, or give --lr"
            )
        return float(lr)
    return float(optimizer.lrs.get(model, optimizer.lr))
