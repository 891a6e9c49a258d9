"""The problems a run trains, by name: the built-ins (``builtin.py``, ``landscapes.py``) and a
user's ``module:factory`` or ``file.py:factory``, loaded and checked here.

A problem is an ``nn.Module`` whose ``forward()`` takes no arguments and returns the loss
(``base.py``).
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from gradcli.errors import GradcliError
from gradcli.problems.base import DataProblem, Problem
from gradcli.problems.builtin import MLP, Embedding, LinearRegression, Seed
from gradcli.problems.landscapes import Beale, Himmelblau, Rastrigin, Rosenbrock
from gradcli.usercode import UserCodeFailed, describe, user_code

# what a user's module may subclass, and what the rest of gradcli calls
__all__ = [
    "BUILTINS",
    "DataProblem",
    "Problem",
    "build",
    "check_parameters",
    "check_protocol",
    "load_factory",
    "sparse_gradients",
    "user_model",
]


def sparse_gradients(model: nn.Module) -> list[str]:
    """The parameters whose gradients are sparse: those of ``nn.Embedding`` and
    ``nn.EmbeddingBag`` modules made with ``sparse=True``."""
    return [
        f"{name}.weight" if name else "weight"
        for name, module in model.named_modules()
        if isinstance(module, nn.Embedding | nn.EmbeddingBag) and module.sparse
    ]


BUILTINS: dict[str, type[Problem]] = {
    "linear": LinearRegression,
    "seed": Seed,
    "mlp": MLP,
    "rosenbrock": Rosenbrock,
    "embedding": Embedding,
    "beale": Beale,
    "himmelblau": Himmelblau,
    "rastrigin": Rastrigin,
}


def build(name: str, *, seed: int, dtype: torch.dtype, device: torch.device) -> nn.Module:
    """A fresh problem: parameters drawn from ``seed`` on the CPU, then moved to device/dtype.

    ``name`` is a built-in or a user's factory, ``package.module:factory`` or
    ``path/to/file.py:factory``: a callable that returns an ``nn.Module`` whose ``forward()``
    takes no arguments and returns a scalar loss (checked here, on a copy).
    """
    torch.manual_seed(seed)
    if ":" not in name:
        return BUILTINS[name]().to(device=device, dtype=dtype)
    model = user_model(name).to(device=device, dtype=dtype)
    check_protocol(name, model)
    return model


def user_model(name: str) -> nn.Module:
    """The ``nn.Module`` a user's ``module:factory`` or ``file.py:factory`` returns, its
    parameters checked (torch's global generator as the caller seeded it)."""
    model = _call(name, load_factory(name))
    check_parameters(name, model)
    return model


def load_factory(target: str) -> Callable[[], object]:
    """The callable named by ``module:attr`` or ``file.py:attr``.

    Imports see what ``python`` would show them: a module is looked up first in the current
    directory (as ``python -m`` does), a file's own imports first in its folder (as ``python
    file.py`` does)."""
    location, _, attr = target.rpartition(":")
    fail = f"--model {target}"
    if location.endswith(".py") or "/" in location:
        path = Path(location)
        if not path.is_file():
            raise GradcliError(f"{fail}: no such file: {location}")
        _import_path_first(str(path.resolve().parent))
        spec = importlib.util.spec_from_file_location(f"gradcli_model_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise GradcliError(f"{fail}: cannot import {location}")
        module = importlib.util.module_from_spec(spec)
        with user_code(f"{fail}: importing {location}"):
            spec.loader.exec_module(module)
    else:
        _import_path_first(os.getcwd())
        try:
            with user_code(f"{fail}: importing {location}"):
                module = importlib.import_module(location)
        except UserCodeFailed as e:
            missing = e.__context__
            if isinstance(missing, ModuleNotFoundError) and f"{location}.".startswith(
                f"{missing.name}."
            ):
                raise GradcliError(f"{fail}: no module named {missing.name!r}") from None
            raise
    factory = getattr(module, attr, None)
    if factory is None:
        raise GradcliError(f"{fail}: {location} has no attribute {attr!r}")
    if not callable(factory):
        raise GradcliError(f"{fail}: {attr} is {_a(factory)}, not a callable")
    return factory


def _import_path_first(folder: str) -> None:
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _a(value: object) -> str:
    """``a float``, ``an int``, ``None``: what a value is, in words."""
    if value is None:
        return "None"
    name = type(value).__name__
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def _call(target: str, factory: Callable[[], object]) -> nn.Module:
    with user_code(f"--model {target}: the factory"):
        model = factory()
    if not isinstance(model, nn.Module):
        raise GradcliError(f"--model {target}: the factory returned {_a(model)}, not an nn.Module")
    return model


def check_protocol(target: str, model: nn.Module) -> None:
    """``forward()`` takes no arguments and returns a scalar that requires grad."""
    fail = f"--model {target}"
    with user_code(f"{fail}: copying the model (copy.deepcopy, to try forward() on)"):
        probe = copy.deepcopy(model)
    try:
        with user_code(f"{fail}: forward()"):
            loss = probe()
    except UserCodeFailed as e:
        if isinstance(e.__context__, TypeError) and "argument" in str(e.__context__):
            raise GradcliError(
                f"{fail}: forward() must take no arguments and return the loss "
                f"({describe(e.__context__)})"
            ) from None
        raise
    if not isinstance(loss, Tensor):
        raise GradcliError(f"{fail}: forward() returned {_a(loss)}, not a tensor")
    if loss.dim() != 0:
        raise GradcliError(
            f"{fail}: forward() returned a tensor of shape {list(loss.shape)}, not a scalar loss"
        )
    if loss.is_complex() or not loss.is_floating_point():
        dtype = str(loss.dtype).removeprefix("torch.")
        raise GradcliError(
            f"{fail}: forward() returned a {dtype} loss, not a real floating-point one"
        )
    if not loss.requires_grad:
        raise GradcliError(
            f"{fail}: the loss does not require grad (no parameter that "
            "requires grad takes part in it)"
        )
    if not any(p.requires_grad for p in model.parameters()):
        raise GradcliError(
            f"{fail}: the loss requires grad, but the model has no parameter that does "
            "(nn.Parameter attributes are what gets trained)"
        )


def check_parameters(target: str, model: nn.Module) -> None:
    """Parameters gradcli can train and show: real floating point, holding data (not on the
    meta device), with at least one element — checked before the model is converted, so a
    complex parameter is not silently cast to a real one."""
    for name, param in model.named_parameters():
        where = f"--model {target}: parameter {name!r}"
        if param.is_meta:
            raise GradcliError(f"{where} is on the meta device (it holds no values)")
        if param.is_complex() or not param.is_floating_point():
            dtype = str(param.dtype).removeprefix("torch.")
            raise GradcliError(f"{where} is {dtype}; gradcli trains real floating-point ones")
        if param.numel() == 0:
            raise GradcliError(f"{where} has no elements (shape {list(param.shape)})")
