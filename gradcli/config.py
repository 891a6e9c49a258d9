"""Config files: any option of a training command, in TOML, checked key by key.

Precedence: built-in defaults < the config file < options given on the command line. Keys
are the option names without the dashes, in snake_case or kebab-case (``weight_decay`` or
``weight-decay``). An unknown key or a value of the wrong type is an error naming the file,
the key and, for a typo, the closest valid key. ``--print-config`` writes the effective
configuration in the same form, so it can be read back.
"""

from __future__ import annotations

import difflib
import math
import tomllib
import types
import typing
from collections.abc import Collection
from dataclasses import fields
from pathlib import Path
from typing import Any

from gradcli.errors import GradcliError
from gradcli.spec import ALL_HYPERPARAMETERS, OPTIMIZERS, RunSpec

# Options a config file may set beyond RunSpec's fields, with their types.
EXTRA_KEYS: dict[str, Any] = {"tol": float | None}
# What people write for a key that has another name here.
SYNONYMS = {
    "learning_rate": "lr",
    "epochs": "steps",
    "iterations": "steps",
    "optim": "optimizer",
    "betas": "beta1",
    "momentum_buffer": "momentum",
    "problem": "model",
    "fmt": "format",
}


def _types() -> dict[str, Any]:
    hints = typing.get_type_hints(RunSpec)
    known = {f.name: hints[f.name] for f in fields(RunSpec)}
    return {**known, **EXTRA_KEYS}


def _accepts(kind: Any, value: object) -> bool:
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    for option in options:
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option in (str, bool) and type(value) is option:
            return True
    return False


def _type_name(kind: Any) -> str:
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}
    return " or ".join(names[o] for o in options if o in names)


def load(path: str, *, allow_list_optimizer: bool = False) -> dict[str, Any]:
    """The options set in the TOML file at ``path``, by RunSpec field name."""
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradcliError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GradcliError(f"--config {path}: cannot read it: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise GradcliError(f"--config {path}: not valid TOML: {e}") from None
    known = _types()
    options: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            close = [SYNONYMS[name]] if name in SYNONYMS else close

            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise GradcliError(f"{path}: unknown key {key!r}{hint}")
        if (
            name == "optimizer"
            and allow_list_optimizer
            and isinstance(value, list)
            and all(isinstance(v, str) for v in value)
        ):
            options[name] = value
            continue
        if not _accepts(known[name], value):
            expected = _type_name(known[name])
            if name == "optimizer" and allow_list_optimizer:
                expected += " or a list of strings"
            raise GradcliError(f"{path}: key {key!r} must be {expected}, got {value!r}")
        options[name] = float(value) if _wants_float(known[name], value) else value
    return options


def _wants_float(kind: Any, value: object) -> bool:
    """TOML's ``1`` for an option that takes a number: read it as 1.0."""
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    return float in options and isinstance(value, int) and not isinstance(value, bool)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def to_toml(
    spec: RunSpec,
    extra: dict[str, Any] | None = None,
    optimizers: list[str] | None = None,
    keys: Collection[str] | None = None,
) -> str:
    """The effective configuration as TOML that ``--config`` reads back. Hyperparameters the
    optimizer takes are written with their values (torch's defaults filled in); options that
    are unset mean "the default" and are left out, with a comment."""
    lines = ["# gradcli configuration (gradcli ... --print-config)"]
    # One optimizer: its hyperparameters with torch's defaults filled in. Several (compare):
    # only those set, since a default differs between them (AdamW's weight decay is 0.01).
    filled = spec.hyperparameters() if not optimizers else {}
    takes = {name for o in (optimizers or [spec.optimizer]) for name in OPTIMIZERS[o]}

    for field in fields(spec):
        if keys is not None and field.name not in keys:
            continue
        value = getattr(spec, field.name)
        if field.name == "optimizer" and optimizers:
            value = optimizers
        if field.name in ALL_HYPERPARAMETERS:
            if field.name not in takes:
                continue
            value = filled.get(field.name) if value is None else value
        if value is None:
            lines.append(f"# {field.name}: default")
            continue
        lines.append(f"{field.name} = {_toml_value(value)}")
    for name, value in (extra or {}).items():
        if value is not None:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
