"""``gradcli diff A B``: two runs' JSON lines compared record by record, like ``cmp`` for
training runs. Every field of every record counts (loss, lr, parameters' values,
gradients, updates, state, ...); numbers agree only when they are the same float, bit for
bit (-0.0 is not 0.0). No torch here.

The gap between two numbers is given in absolute terms and in ULPs: how many floats lie
between them, counted among float32 numbers when both are float32 values (what a float32
run records), else among float64 numbers.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from gradcli.saved_runs import STDIN, Record, records_of

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Difference:
    """One number (or field) that differs between the two records of a step."""

    step: int
    path: Path
    a: Any  # MISSING where the field is absent from that record
    b: Any
    abs_diff: float | None  # None unless both are finite numbers
    ulps: int | None
    ulp_kind: str | None  # "float32" or "float64"

    @property
    def parameter(self) -> str | None:
        return str(self.path[1]) if len(self.path) > 1 and self.path[0] == "params" else None

    @property
    def field(self) -> str:
        """``grad[3]``, ``value.norm``, ``state.exp_avg[0]``, ``loss``, ``lr``."""
        rest = self.path[2:] if self.parameter is not None else self.path
        text = ""
        for key in rest:
            text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
        return text

    @property
    def where(self) -> str:
        return self.field if self.parameter is None else f"{self.parameter} {self.field}"


MISSING = "absent"


@dataclass
class StepGap:
    """How two records of one step differ: how many numbers, the largest gap and where,
    and the first difference in the record's order. ``epoch``: for the records of the end
    of an epoch (``epoch_end``, after that step), the epoch."""

    step: int
    differing: int = 0
    max_abs_diff: float = 0.0
    max_ulps: int = 0
    largest: Difference | None = None
    first: Difference | None = None
    epoch: int | None = None

    @property
    def when(self) -> str:
        """``step 23``, or ``the end of epoch 1 (step 23)``."""
        if self.epoch is None:
            return f"step {self.step}"
        return f"the end of epoch {self.epoch} (step {self.step})"


def flatten(obj: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every leaf of a record with its path, in the record's own order."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from flatten(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from flatten(value, (*path, i))
    else:
        yield path, obj


def _is_float(v: Any) -> bool:
    return isinstance(v, float | int) and not isinstance(v, bool)


def same(a: Any, b: Any) -> bool:
    """The same value, a float bit for bit (so -0.0 differs from 0.0, and NaN is NaN)."""
    if _is_float(a) and _is_float(b):
        return struct.pack("<d", float(a)) == struct.pack("<d", float(b))
    return type(a) is type(b) and a == b


def _is_float32(x: float) -> bool:
    if not math.isfinite(x):
        return True
    try:
        return bool(struct.unpack("<f", struct.pack("<f", x))[0] == x)
    except OverflowError:  # beyond float32's range (1e308): a float64 only
        return False


def _ordered(x: float, kind: str) -> int:
    """The float as an integer, in the same order, so that subtracting counts ULPs."""
    if kind == "float32":
        (raw,) = struct.unpack("<i", struct.pack("<f", x))
        magnitude = raw & 0x7FFFFFFF
    else:
        (raw,) = struct.unpack("<q", struct.pack("<d", x))
        magnitude = raw & 0x7FFFFFFFFFFFFFFF
    return -magnitude if raw < 0 else magnitude


def gap(step: int, path: Path, a: Any, b: Any) -> Difference:
    if _is_float(a) and _is_float(b) and math.isfinite(a) and math.isfinite(b):
        x, y = float(a), float(b)
        kind = "float32" if _is_float32(x) and _is_float32(y) else "float64"
        ulps = abs(_ordered(x, kind) - _ordered(y, kind))
        return Difference(step, path, a, b, abs(x - y), ulps, kind)
    return Difference(step, path, a, b, None, None, None)


def compare_records(step: int, a: Record, b: Record) -> StepGap:
    result = StepGap(step, epoch=_epoch(a))
    left, right = dict(flatten(a)), dict(flatten(b))
    for path in [*left, *(p for p in right if p not in left)]:
        x, y = left.get(path, MISSING), right.get(path, MISSING)
        if (path in left) == (path in right) and same(x, y):
            continue
        difference = gap(step, path, x, y)
        result.differing += 1
        if result.first is None:
            result.first = difference
        if difference.abs_diff is not None and (
            result.largest is None or difference.abs_diff > result.max_abs_diff
        ):
            result.largest = difference
            result.max_abs_diff = difference.abs_diff
        result.max_ulps = max(result.max_ulps, difference.ulps or 0)
        if result.largest is None and difference.abs_diff is None:
            result.largest = difference
    return result


@dataclass
class RecordsDiff:
    """The whole comparison: a gap for every pair of records, and where one run ends
    before the other (``ends``: the name of the shorter run and the step it ends at)."""

    steps: list[StepGap]
    records: int
    ends: tuple[str, int, int] | None = None  # (shorter run, its last step, the other's last)

    @property
    def identical(self) -> bool:
        return self.ends is None and all(s.differing == 0 for s in self.steps)

    @property
    def first(self) -> StepGap | None:
        return next((s for s in self.steps if s.differing), None)


def _epoch(record: Record) -> int | None:
    epoch = record.get("epoch_end")
    return epoch if isinstance(epoch, int) else None


def name_of(source: str) -> str:
    return "stdin" if source == STDIN else source


def compare(a: str, b: str) -> RecordsDiff:
    """Read both runs, line by line, and compare each pair of records. A line that is not
    a record is exit 2 naming its file and line."""
    steps: list[StepGap] = []
    count = 0
    last_a = last_b = -1
    ends = None
    for left, right in zip_longest(records_of(a, compare=True), records_of(b, compare=True)):
        if left is None or right is None:  # one run has ended: read the other to its end
            (_, _, record) = left or right  # type: ignore[misc]
            shorter = (a, last_a) if left is None else (b, last_b)
            ends = (name_of(shorter[0]), shorter[1], record["step"])
            continue
        (_, text_a, record_a), (_, text_b, record_b) = left, right
        count += 1
        last_a, last_b = record_a["step"], record_b["step"]
        if text_a == text_b:
            steps.append(StepGap(record_a["step"], epoch=_epoch(record_a)))
            continue
        steps.append(compare_records(record_a["step"], record_a, record_b))
    return RecordsDiff(steps, count, ends)


def _value(v: Any) -> str:
    return repr(v) if not isinstance(v, str) else v


def _ulps(d: Difference) -> str:
    if d.ulps is None:
        return ""
    return f" ({d.ulps} {d.ulp_kind} ULP{'s' * (d.ulps != 1)})"


def first_lines(result: RecordsDiff, a: str, b: str) -> list[str]:
    """Where the runs part, in words: the step, parameter, field, both values, the gap."""
    first = result.first
    ending = []
    if result.ends is not None:
        shorter, last, other = result.ends
        ending = [f"  {shorter} ends at step {last}; the other goes on to step {other}"]
    if first is None or first.first is None:
        return [
            f"gradcli diff: {name_of(a)} and {name_of(b)} agree on every record they share "
            f"({result.records})",
            *ending,
        ]
    d = first.first
    where = f"parameter {d.parameter}, {d.field}" if d.parameter is not None else d.field
    width = max(len(name_of(a)), len(name_of(b)))
    lines = [
        f"gradcli diff: {name_of(a)} and {name_of(b)} part at {first.when}, {where}:",
        f"  {name_of(a).ljust(width)}  {_value(d.a)}",
        f"  {name_of(b).ljust(width)}  {_value(d.b)}",
    ]
    if d.abs_diff is not None:
        lines.append(f"  |A − B| {d.abs_diff:.3g}{_ulps(d)}")
    return lines + ending


def growth_lines(result: RecordsDiff) -> list[str]:
    """The steps where the largest gap grows, and the last step: how the runs drift."""
    differing = [s for s in result.steps if s.differing]
    if not differing:
        return []
    kept, high = [], -1.0
    for s in differing:
        if s.max_abs_diff > high or s is differing[-1]:
            kept.append(s)
            high = max(high, s.max_abs_diff)
    header = ["step", "differing", "max |A − B|", "max ULPs", "largest at"]
    rows = [
        [
            str(s.step) if s.epoch is None else f"{s.step} (end of epoch {s.epoch})",
            str(s.differing),
            f"{s.max_abs_diff:.3g}",
            str(s.max_ulps),
            "" if s.largest is None else s.largest.where,
        ]
        for s in kept
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        numbers = [c.rjust(w) for c, w in zip(cells[:4], widths, strict=False)]
        return "  " + "   ".join([*numbers, cells[4]]).rstrip()

    same_steps = len(result.steps) - len(differing)
    return [
        "",
        f"how the gap grows: {len(differing)} of {len(result.steps)} records differ, "
        f"{same_steps} agree;",
        "each step where the largest gap grows, and the last:",
        line(header),
        *[line(r) for r in rows],
    ]


def step_object(s: StepGap) -> dict[str, Any]:
    first, largest = s.first, s.largest
    epoch = {} if s.epoch is None else {"epoch_end": s.epoch}  # a pair of epochs' ends
    return {
        "step": s.step,
        **epoch,
        "identical": s.differing == 0,
        "differing": s.differing,
        "max_abs_diff": s.max_abs_diff,
        "max_ulps": s.max_ulps,
        "largest_at": None if largest is None else largest.where,
        "first_at": None if first is None else first.where,
        "a": None if first is None else first.a,
        "b": None if first is None else first.b,
    }
