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
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gradcli import file_kinds
from gradcli.errors import GradcliError

STDIN = "-"
SPELLED = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
Record = dict[str, Any]


@dataclass
class Run:
    """One training run: its label and its step records, in order; ``epochs``: its epoch
    objects, in order (a run on ``--data``; records given with epoch objects among them are
    sorted into the two lists). ``lr``: the constant learning rate, for records that do not
    carry their own (``"lr"``). ``final_loss``: the loss at the final parameters as the
    run's summary has it (a run just trained; JSON lines do not hold it)."""

    label: str
    records: list[Record] = field(default_factory=list)
    lr: float | None = None
    source: str = ""
    epochs: list[Record] = field(default_factory=list)
    final_loss: float | None = None

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


def why_not_an_epoch(obj: Record) -> str | None:
    """What makes an ``epoch_end`` object not one gradcli writes; None when it is one."""
    for key in ("epoch_end", "step"):
        value = obj.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f'"{key}" is not an integer >= 0'
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
        return None
    if is_epoch(obj):
        return why_not_an_epoch(obj)
    for key in ("step", "loss", "params"):
        if key not in obj:
            return f'no "{key}" field'
    if not isinstance(obj["step"], int) or isinstance(obj["step"], bool) or obj["step"] < 0:
        return '"step" is not an integer >= 0'
    if obj["loss"] is not None and not _is_number(obj["loss"]):
        return '"loss" is not a number or null'
    if not isinstance(obj["params"], dict):
        return '"params" is not an object'
    for name, param in obj["params"].items():
        if not isinstance(param, dict) or not isinstance(param.get("shape"), list):
            return f"parameter {name!r} has no shape"
        for key in ("value", "grad", "update"):
            if key not in param or not _values_ok(param[key]):
                return f"parameter {name!r}: {key!r} is not a list of numbers or statistics"
    return None


def parse_line(text: str, where: str, compare: bool = False) -> Record:
    """One line as a record, or exit 2 naming ``where`` (``file:line``) and why."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        msg = getattr(error, "msg", "too deeply nested")
        raise GradcliError(f"{where}: not a gradcli record: not JSON ({msg})") from None
    why = why_not_a_record(obj, compare)
    if why is not None:
        raise GradcliError(f"{where}: not a gradcli record: {why}")
    return _numbers(obj)  # type: ignore[no-any-return]


def lines_of(source: str) -> Iterator[str]:
    """The lines of a file, or of stdin for ``-``; a missing or unreadable file is exit 2."""
    if source == STDIN:
        yield from _lines(sys.stdin)
        return
    path = Path(source)  # a file, or a pipe: a FIFO, the shell's <(gradcli ...) (/dev/fd/63)
    if path.is_dir() or not path.exists():
        what = "a folder" if path.is_dir() else "no such file"
        raise GradcliError(f"{source}: cannot read it: {what}")
    read = 0
    try:
        with path.open(encoding="utf-8") as stream:
            for line in _lines(stream):
                read += 1
                yield line
    except UnicodeDecodeError as error:
        raise GradcliError(_not_text(source, read, error)) from None
    except OSError as error:
        raise GradcliError(f"{source}: cannot read it: {error.strerror or error}") from None


def _not_text(source: str, read: int, error: UnicodeDecodeError) -> str:
    """Why a file whose bytes are not UTF-8 is refused: what it is, told from its start (a
    checkpoint, most often), and what was expected."""
    expected = f"not {file_kinds.JSON_LINES}"
    if read:  # (the bytes decoded start somewhere after the lines read)
        return f"{source}: {expected}: not UTF-8 text after line {read}"
    line = error.object[: error.start].count(b"\n") + 1  # the bytes decoded: the file's start
    if line > 1:
        return f"{source}:{line}: {expected}: not UTF-8 text"
    return f"{source}: {expected}: it is {file_kinds.kind_of(error.object[: file_kinds.HEAD])}"


def _lines(stream: TextIO) -> Iterable[str]:
    for line in stream:
        yield line.rstrip("\n")


def records_of(source: str, compare: bool = False) -> Iterator[tuple[int, str, Record]]:
    """(line number, the line as written, the record) for each non-blank line; with
    ``compare``, records of gradcli compare are taken too (not mixed with the others)."""
    name = "stdin" if source == STDIN else source
    kind = None
    for number, text in enumerate(lines_of(source), start=1):
        if text.strip():
            record = parse_line(text, f"{name}:{number}", compare)
            if kind is None:
                kind = is_compare(record)
            elif kind != is_compare(record):
                what = "compare" if kind else "training"
                raise GradcliError(
                    f"{name}:{number}: not a gradcli record of the same kind as line 1 ({what})"
                )
            yield number, text, record


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
            raise GradcliError(f"{'stdin' if source == STDIN else source}: no records in it")
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
