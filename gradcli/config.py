"""Config files: any option of a training command, in TOML, checked key by key.

Precedence: built-in defaults < the config file < options given on the command line. Keys
are the option names without the dashes, in snake_case or kebab-case (``weight_decay`` or
``weight-decay``). An unknown key or a value of the wrong type is an error naming the file,
the key and, for a typo, the closest valid key. ``--print-config`` writes the effective
configuration in the same form, so it can be read back.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import stat
import types
import typing
from collections.abc import Collection
from dataclasses import fields
from typing import Any

from gradcli import file_kinds, optimizers
from gradcli.errors import GradcliError
from gradcli.spec import DATA_OPTIONS, RunSpec, constructor

# Options a config file may set beyond RunSpec's fields, with their types.
EXTRA_KEYS: dict[str, Any] = {"tol": float | None, "target_accuracy": float | None}
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


def option_types() -> dict[str, Any]:
    """Each key's type; a hyperparameter's option takes any literal (the catalog checks it)."""
    hints = typing.get_type_hints(RunSpec)
    known = {f.name: hints[f.name] for f in fields(RunSpec) if f.name != "settings"}
    return {**known, **dict.fromkeys(optimizers.options(), Any), **EXTRA_KEYS}


def accepts(kind: Any, value: object) -> bool:
    if kind is Any:
        return True
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


MAX_SIZE = 1 << 20
"""The most a config file may hold, in bytes (a real one holds a few hundred)."""


def _read(path: str) -> str:
    """The text of ``path``: a regular file (not a fifo or /dev/zero, which would block or
    never end) of at most MAX_SIZE bytes."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise GradcliError(f"--config {path}: not a regular file")
    # O_NONBLOCK: should a fifo be swapped in meanwhile, the open does not wait for a writer
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise GradcliError(f"--config {path}: not a regular file")
        data = file.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        raise GradcliError(f"--config {path}: more than {MAX_SIZE} bytes; not a config file")
    return data.decode("utf-8")


def load(path: str, *, allow_list_optimizer: bool = False) -> dict[str, Any]:
    """The options set in the TOML file at ``path``, by RunSpec field name."""
    import tomllib  # (here: 8 ms that a command's --help does not need)

    text = ""
    try:
        text = _read(path)
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise GradcliError(f"--config {path}: no such file") from None
    except UnicodeDecodeError as e:  # a checkpoint, most often
        kind = file_kinds.kind_of(e.object[: file_kinds.HEAD])
        raise GradcliError(f"--config {path}: not a TOML config file: it is {kind}") from None
    except OSError as e:
        raise GradcliError(f"--config {path}: cannot read it: {e}") from None
    except tomllib.TOMLDecodeError as e:
        kind = file_kinds.kind_of(text[: file_kinds.HEAD].encode("utf-8"))
        if kind.startswith("JSON lines"):  # (what else is a text file: TOML gone wrong)
            raise GradcliError(f"--config {path}: not a TOML config file: it is {kind}") from None
        raise GradcliError(f"--config {path}: not valid TOML: {e}") from None
    except RecursionError:
        raise GradcliError(f"--config {path}: not a config: its values nest too deeply") from None
    known = option_types()
    options: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name in spelled:  # weight_decay and weight-decay: neither may silently win
            raise GradcliError(
                f"{path}: keys {spelled[name]!r} and {key!r} are the same option; keep one"
            )
        spelled[name] = key
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
        if not accepts(known[name], value):
            expected = _type_name(known[name])
            if name == "optimizer" and allow_list_optimizer:
                expected += " or a list of strings"
            raise GradcliError(f"{path}: key {key!r} must be {expected}, got {value!r}")
        if isinstance(value, list):  # TOML's arrays are Python's tuples here: betas = [0.9, 0.99]
            value = tuple(value)
        options[name] = float(value) if _wants_float(known[name], value) else value
    return options


def _wants_float(kind: Any, value: object) -> bool:
    """TOML's ``1`` for an option that takes a number: read it as 1.0."""
    if kind is Any:
        return False
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
    # JSON's escapes are TOML's (\n, \", \uXXXX); TOML also forbids a raw DEL
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def to_toml(
    runs: RunSpec | list[RunSpec],
    extra: dict[str, Any] | None = None,
    keys: Collection[str] | None = None,
) -> str:
    """The effective configuration as TOML that ``--config`` reads back. The optimizer is
    written as torch's constructor: one run's with every keyword (torch's defaults filled
    in), compare's runs with the keywords each was given. Options left unset mean "the
    default" and are written as a comment."""
    specs = runs if isinstance(runs, list) else [runs]
    first = specs[0]
    lines = ["# gradcli configuration (gradcli ... --print-config)"]
    for field in fields(first):
        if field.name in ("lr", "settings") or (keys is not None and field.name not in keys):
            continue
        if first.data is None and field.name in DATA_OPTIONS:  # (they apply with data only)
            continue
        value = getattr(first, field.name)
        if field.name == "optimizer":
            if isinstance(runs, list):
                value = [
                    constructor(s.optimizer, s.lr, s.settings)
                    if s.lr is not None or s.settings
                    else s.optimizer
                    for s in specs
                ]
            else:
                value = constructor(first.optimizer, first.lr, first.hyperparameters())
                if first.lr is None:
                    lines.append("# lr: the problem's default for the optimizer")
        if value is None:
            lines.append(f"# {field.name}: default")
            continue
        lines.append(f"{field.name} = {_toml_value(value)}")
    for name, value in (extra or {}).items():
        if value is not None:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
