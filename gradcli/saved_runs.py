"""gradcli's own JSON lines read back: one run per file, each line checked to be a step
record of ``gradcli optim``/``manual`` or the end of an epoch of one (``epoch_end``; the schema
in docs/pipelines.md), or several runs in a file of ``gradcli compare``'s records, one per
label. No torch here.

A run read from a file and a run just trained are the same thing to the pictures: the
list of step objects (``gradcli.render.jsonl.step_object``) and, on ``--data``, of epoch
objects (``epoch_object``), with non-finite numbers spelled as JSON lines spell them turned
back into floats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradcli import file_kinds
from gradcli.bounded_lines import STDIN, NotText, lines, shown
from gradcli.errors import GradcliError
from gradcli.printable import printable

SPELLED = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
Record = dict[str, Any]


@dataclass
class Run:
    """One training run: its label and its step records, in order; ``epochs``: its epoch
    objects, in order (a run on ``--data``; records given with epoch objects among them are
    sorted into the two lists). ``lr``: the constant learning rate, for records that do not
    carry their own (``"lr"``). ``final_loss``: the loss at the final parameters as the
    run's summary has it (a run just trained; JSON lines do not hold it). ``max_ulps``: the
    largest gap between the hand-written and the torch.optim path, in ULPs, where the run
    had both (gradcli compare)."""

    label: str
    records: list[Record] = field(default_factory=list)
    lr: float | None = None
    source: str = ""
    epochs: list[Record] = field(default_factory=list)
    final_loss: float | None = None
    max_ulps: int | None = None

    def __post_init__(self) -> None:
        if any(is_epoch(r) for r in self.records):
            self.epochs = [*self.epochs, *(r for r in self.records if is_epoch(r))]
            self.records = [r for r in self.records if not is_epoch(r)]


def _number(value: Any) -> Any:
    if isinstance(value, str) and value in SPELLED:
        return SPELLED[value]
    return value


def _numbers(obj: Any) -> Any:
    """``obj`` with "NaN", "Infinity" and "-Infinity" read back as floats."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return _number(obj)


def _values_ok(values: Any) -> bool:
    """A flat list of numbers, or {"norm", "mean", "min", "max"}, or null."""
    if values is None:
        return True
    if isinstance(values, list):
        return all(_is_number(v) for v in values)
    if isinstance(values, dict):
        return set(values) == {"norm", "mean", "min", "max"} and all(
            _is_number(v) for v in values.values()
        )
    return False


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) or (
        isinstance(v, str) and v in SPELLED
    )


def is_epoch(obj: Any) -> bool:
    """The end of an epoch of a run on ``--data`` (``epoch_end``), not a step."""
    return isinstance(obj, dict) and "epoch_end" in obj


def is_compare(obj: Any) -> bool:
    """A record of ``gradcli compare``: one method at one step, its losses and gaps, or at
    the end of an epoch."""
    return (
        isinstance(obj, dict)
        and {"step", "label"} <= set(obj)
        and ("optim_loss" in obj or "epoch_end" in obj)
    )


EPOCH_NUMBERS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")


STEPS = 2**63  # torch counts steps in int64, and so does every run gradcli writes


def _why_not_a_step(obj: Record, key: str = "step") -> str | None:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < STEPS:
        return f'"{key}" is not an integer in [0, 2**63)'
    return None


def _why_not_an_lr(obj: Record) -> str | None:
    if obj.get("lr") is not None and not _is_number(obj["lr"]):
        return '"lr" is not a number or null'
    return None


def why_not_an_epoch(obj: Record) -> str | None:
    """What makes an ``epoch_end`` object not one gradcli writes; None when it is one."""
    for key in ("epoch_end", "step"):
        why = _why_not_a_step(obj, key)
        if why is not None:
            return why
    for key in EPOCH_NUMBERS:
        if key not in obj:
            return f'an epoch\'s end with no "{key}" field'
        if obj[key] is not None and not _is_number(obj[key]):
            return f'"{key}" is not a number or null'
    if obj["train_loss"] is None:
        return '"train_loss" is not a number'
    return None


def why_not_a_record(obj: Any, compare: bool = False) -> str | None:
    """What makes ``obj`` not a gradcli step or epoch record (or, with ``compare``, not a
    record of gradcli compare either); None when it is one."""
    if not isinstance(obj, dict):
        return f"a JSON {type(obj).__name__}, not an object"
    if is_compare(obj):
        if not compare:
            return "a record of gradcli compare, not of a training run (optim, manual)"
        if not isinstance(obj["label"], str):
            return '"label" is not a string'
        if is_epoch(obj):
            return why_not_an_epoch(obj)
        if not (obj["optim_loss"] is None or _is_number(obj["optim_loss"])):
            return '"optim_loss" is not a number or null'
        return _why_not_a_step(obj) or _why_not_an_lr(obj)
    if is_epoch(obj):
        return why_not_an_epoch(obj)
    for key in ("step", "loss", "params"):
        if key not in obj:
            return f'no "{key}" field'
    why = _why_not_a_step(obj) or _why_not_an_lr(obj)
    if why is not None:
        return why
    if obj["loss"] is not None and not _is_number(obj["loss"]):
        return '"loss" is not a number or null'
    if not isinstance(obj["params"], dict):
        return '"params" is not an object'
    for name, param in obj["params"].items():
        if not isinstance(param, dict) or not _is_shape(param.get("shape")):
            return f"parameter {name!r} has no shape (a list of sizes)"
        for key in ("value", "grad", "update"):
            if key not in param or not _values_ok(param[key]):
                return f"parameter {name!r}: {key!r} is not a list of numbers or statistics"
    return None


def _is_shape(shape: Any) -> bool:
    return isinstance(shape, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and 0 <= n < STEPS for n in shape
    )


class Unfit(str):
    """A number of the JSON text that no float holds (``1e400``, a 400-digit integer), kept
    as its text so that the check can name its field."""


class _Numbers:
    """json's hooks for the numbers of one line: each that no float holds becomes ``Unfit``
    (and ``found`` says so), where json would raise or make it infinite."""

    def __init__(self) -> None:
        self.found = False

    def integer(self, text: str) -> int | Unfit:
        if len(text) > 400:  # (Python reads 4,300 digits at most; a float holds about 309)
            return self._unfit(text)
        value = int(text)
        try:
            float(value)
        except OverflowError:
            return self._unfit(text)
        return value

    def real(self, text: str) -> float | Unfit:
        value = float(text)
        return self._unfit(text) if math.isinf(value) else value

    def _unfit(self, text: str) -> Unfit:
        self.found = True
        return Unfit(text)


def _unfit(obj: Any) -> tuple[str, Unfit] | None:
    """The first number no float holds, and its field (``params.xy.value[0]``); without
    recursion, so that a line nested as deep as json reads is walked too."""
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, Unfit):
            return path, value
        if isinstance(value, dict):
            children = [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        stack += reversed(children)
    return None


def parse_line(text: str, where: str, compare: bool = False) -> Record:
    """One line as a record, or exit 2 naming ``where`` (``file:line``) and why. Every
    number must fit a float (non-finite ones spelled "NaN", "Infinity", "-Infinity")."""
    numbers = _Numbers()
    try:
        obj = json.loads(text, parse_int=numbers.integer, parse_float=numbers.real)
    except (json.JSONDecodeError, RecursionError) as error:
        msg = getattr(error, "msg", "too deeply nested")
        raise GradcliError(f"{where}: not a gradcli record: not JSON ({msg})") from None
    if numbers.found:
        found = _unfit(obj)
        if found is not None:
            key, number = found
            key = printable(key if len(key) <= 80 else f"{key[:80]}…")
            number = number if len(number) <= 24 else f"{number[:12]}…, {len(number)} digits"
            if key in ("step", "epoch_end"):
                raise GradcliError(
                    f'{where}: not a gradcli record: "{key}" is {number}, not an integer in '
                    "[0, 2**63)"
                )
            raise GradcliError(
                f'{where}: not a gradcli record: "{key}" is {number}, more than a float holds '
                '(numbers reach ±1.8e308; the others are spelled "NaN", "Infinity", "-Infinity")'
            )
    why = why_not_a_record(obj, compare)
    if why is not None:
        raise GradcliError(f"{where}: not a gradcli record: {why}")
    return _numbers(obj)  # type: ignore[no-any-return]


def _text_lines(source: str) -> Iterator[str]:
    """The lines of ``source``; bytes that are not UTF-8 are named for what the file is when
    they come first (a checkpoint, most often), else by their line."""
    try:
        yield from lines(source)
    except NotText as error:
        expected = f"not {file_kinds.JSON_LINES}"
        if error.line == 1:
            kind = file_kinds.kind_of(error.raw[: file_kinds.HEAD])
            raise GradcliError(f"{shown(source)}: {expected}: it is {kind}") from None
        raise GradcliError(f"{shown(source)}:{error.line}: {expected}: {error.detail}") from None


def records_of(source: str, compare: bool = False) -> Iterator[tuple[int, str, Record]]:
    """(line number, the line as written, the record) for each non-blank line; with
    ``compare``, records of gradcli compare are taken too (not mixed with the others).
    A run's steps (and its epochs' ends) must come in order, each after the one before."""
    name = shown(source)
    kind = None
    last: dict[tuple[str, bool], int] = {}  # (label, epoch's end) -> the last step or epoch
    for number, text in enumerate(_text_lines(source), start=1):
        if text.strip():
            where = f"{name}:{number}"
            record = parse_line(text, where, compare)
            if kind is None:
                kind = is_compare(record)
            elif kind != is_compare(record):
                what = "compare" if kind else "training"
                raise GradcliError(
                    f"{where}: not a gradcli record of the same kind as line 1 ({what})"
                )
            _in_order(record, last, where)
            yield number, text, record


def _in_order(record: Record, last: dict[tuple[str, bool], int], where: str) -> None:
    epoch = is_epoch(record)
    label = record["label"] if is_compare(record) else ""  # (a string: checked)
    key = "epoch_end" if epoch else "step"
    before = last.get((label, epoch))
    if before is not None and record[key] <= before:
        what = "epoch_end" if epoch else "step"
        of = f" of {label!r}" if label else ""
        raise GradcliError(
            f"{where}: {what} {record[key]}{of} after {what} {before}: a run's records come "
            "in order (two runs? give each its own file)"
        )
    last[(label, epoch)] = record[key]


def compare_runs(records: list[Record], prefix: str) -> list[Run]:
    """The runs of gradcli compare's records, one per label (the torch.optim path: its
    loss before each step's update, as a training record has it; no parameters; and its
    epoch objects, as a training run's)."""
    runs: dict[str, Run] = {}
    for r in records:
        label = r["label"]
        run = runs.setdefault(label, Run(prefix + label, source=prefix))
        if is_epoch(r):
            run.epochs.append({k: v for k, v in r.items() if k not in ("optimizer", "label")})
        else:
            if isinstance(r.get("max_ulps"), int):
                run.max_ulps = max(run.max_ulps or 0, r["max_ulps"])
            step = {"step": r["step"], "loss": r["optim_loss"], "params": {}}
            run.records.append({**step, "lr": r["lr"]} if "lr" in r else step)
    return list(runs.values())


def read_runs(sources: Sequence[str], labels: Sequence[str] = ()) -> list[Run]:
    """One run per source (``-``: stdin), labelled by ``labels`` or else the file name."""
    if len(labels) > len(sources):
        raise GradcliError(
            f"--label: {len(labels)} labels for {len(sources)} run" + "s" * (len(sources) != 1)
        )
    if sources.count(STDIN) > 1:
        raise GradcliError("- (stdin) can be given once")
    runs = []
    for i, source in enumerate(sources):
        label = (
            labels[i] if i < len(labels) else ("stdin" if source == STDIN else Path(source).name)
        )
        records = [record for _, _, record in records_of(source, compare=True)]
        if not records:
            raise GradcliError(f"{shown(source)}: no records in it")
        if is_compare(records[0]):  # several runs in one file: labelled by compare
            prefix = f"{label}: " if len(sources) > 1 or i < len(labels) else ""
            runs += compare_runs(records, prefix)
        else:
            runs.append(Run(label, records, source=source))
    return distinct(runs)


def distinct(runs: list[Run]) -> list[Run]:
    """Each run's label unique, so the legends tell them apart: a repeated one gets its
    number (``run.jsonl (2)``)."""
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
        if seen[run.label] > 1:
            run.label = f"{run.label} ({seen[run.label]})"
    return runs
