"""``gradcli diff A B``: two runs' JSON lines compared record by record, like ``cmp`` for
training runs. Every field of every record counts (loss, lr, parameters' values,
gradients, updates, state, ...); numbers agree only when they are the same float, bit for
bit (-0.0 is not 0.0). No torch here.

The gap between two numbers is given in absolute terms, relative to B's value, and in ULPs:
how many steps from one number of the records' dtype to the next lead from one to the other,
each rounded to that dtype first (``ulps_between``). The records do not name their dtype;
their digits do (``record_dtype``): a record is float32 when its loss and every element of
its parameters' values are float32 numbers (what a float32 run writes: the shortest digits
that read back as that float32), else float64. A pair of records is float32 when both are.
An update, a norm or a mean, computed in float64 from a float32 run's numbers, is rounded to
float32 before its ULPs are counted. The end of an epoch has neither loss nor parameters:
its numbers (means over batches, fractions) are float64 computations, counted as float32
only where both numbers are float32 numbers.

With a ``Tolerance`` (``--ulps N``, ``--rtol R``, ``--atol A``) two numbers that differ still
agree when they are within it: at most N ULPs apart, or |A − B| <= A + R·|B| (numpy's
``isclose``, B the reference); either suffices where both are given.
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

    @property
    def relative(self) -> float | None:
        """|A − B| / |B|: inf where B is 0 and A is not; None unless both are numbers."""
        if self.abs_diff is None:
            return None
        return _share(self.abs_diff, abs(float(self.b)))


MISSING = "absent"


def _share(gap: float, allowed: float) -> float:
    """``gap`` in units of ``allowed``: 0 for no gap, inf for a gap where none is allowed."""
    if gap == 0:
        return 0.0
    return gap / allowed if allowed > 0 else math.inf


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far apart two numbers may be and still agree: at most ``ulps`` ULPs, or
    |a − b| <= ``atol`` + ``rtol``·|b| (numpy's ``isclose``; b, run B's number, is the
    reference); where both kinds are given, either suffices. A field that is absent, null or
    not finite on one side only, or not a number, never agrees unless it is the same."""

    ulps: int | None = None
    rtol: float | None = None
    atol: float | None = None

    def share(self, d: Difference) -> float:
        """How much of the tolerance ``d`` takes: at most 1 when within it."""
        if d.abs_diff is None or d.ulps is None:
            return math.inf
        shares = []
        if self.ulps is not None:
            shares.append(_share(d.ulps, self.ulps))
        if self.rtol is not None or self.atol is not None:
            allowed = (self.atol or 0.0) + (self.rtol or 0.0) * abs(float(d.b))
            shares.append(_share(d.abs_diff, allowed))
        return min(shares, default=math.inf)

    def __str__(self) -> str:
        """``--ulps 4``, ``--rtol 1e-05 --atol 1e-08``, ``--ulps 4 or --atol 1e-12``."""
        close = " ".join(
            f"--{name} {value:g}"
            for name, value in (("rtol", self.rtol), ("atol", self.atol))
            if value is not None
        )
        ulps = "" if self.ulps is None else f"--ulps {self.ulps}"
        return " or ".join(text for text in (ulps, close) if text)


@dataclass
class StepGap:
    """How two records of one step differ: how many numbers, the largest gap and where,
    and the first difference in the record's order. ``epoch``: for the records of the end
    of an epoch (``epoch_end``, after that step), the epoch. With a tolerance: the first
    difference beyond it (``beyond``; without one, every difference is), and the difference
    that takes the largest share of it (``worst``, ``worst_share``: at most 1 within it)."""

    step: int
    differing: int = 0
    max_abs_diff: float = 0.0
    max_ulps: int = 0
    largest: Difference | None = None
    first: Difference | None = None
    epoch: int | None = None
    beyond: Difference | None = None
    worst: Difference | None = None
    worst_share: float = 0.0

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
    """The float as an integer, in the same order, so that subtracting counts ULPs (a
    float64 is rounded to the nearest float32 first for ``kind`` float32)."""
    if kind == "float32":
        (raw,) = struct.unpack("<i", struct.pack("<f", x))
        magnitude = raw & 0x7FFFFFFF
    else:
        (raw,) = struct.unpack("<q", struct.pack("<d", x))
        magnitude = raw & 0x7FFFFFFFFFFFFFFF
    return -magnitude if raw < 0 else magnitude


def ulps_between(x: float, y: float, dtype: str) -> int | None:
    """How many steps from one ``dtype`` number to the next lead from ``x`` to ``y``, each
    rounded to ``dtype`` first: 0 for the same number (0.0 and -0.0 too), 1 for neighbours.
    None where, rounded to float32, either is beyond its largest number."""
    try:
        return abs(_ordered(x, dtype) - _ordered(y, dtype))
    except OverflowError:  # beyond float32's largest
        return None


def record_dtype(record: Record) -> str | None:
    """float32 when the record's loss and its parameters' values (their elements, or the
    smallest and largest of a large tensor) are all float32 numbers, else float64; None for a
    record with neither (the end of an epoch)."""
    numbers = [record.get(key) for key in ("loss", "manual_loss", "optim_loss")]
    params = record.get("params")
    for param in params.values() if isinstance(params, dict) else ():
        value = param.get("value") if isinstance(param, dict) else None
        if isinstance(value, dict):
            numbers += [value.get("min"), value.get("max")]
        elif isinstance(value, list):
            numbers += value
    finite = [float(v) for v in numbers if _is_float(v) and math.isfinite(v)]
    if not finite:
        return None
    return "float32" if all(_is_float32(v) for v in finite) else "float64"


def gap(step: int, path: Path, a: Any, b: Any, dtype: str | None = None) -> Difference:
    """How far ``a`` is from ``b``, with ULPs counted in ``dtype`` (None: float32 when both
    are float32 numbers, else float64)."""
    if _is_float(a) and _is_float(b) and math.isfinite(a) and math.isfinite(b):
        x, y = float(a), float(b)
        kind = dtype or ("float32" if _is_float32(x) and _is_float32(y) else "float64")
        ulps = ulps_between(x, y, kind)
        if ulps is None:
            kind, ulps = "float64", ulps_between(x, y, "float64")
        return Difference(step, path, a, b, abs(x - y), ulps, kind)
    return Difference(step, path, a, b, None, None, None)


def compare_records(
    step: int,
    a: Record,
    b: Record,
    tolerance: Tolerance | None = None,
    dtype: str | None = None,
) -> StepGap:
    result = StepGap(step, epoch=_epoch(a))
    left, right = dict(flatten(a)), dict(flatten(b))
    for path in [*left, *(p for p in right if p not in left)]:
        x, y = left.get(path, MISSING), right.get(path, MISSING)
        if (path in left) == (path in right) and same(x, y):
            continue
        difference = gap(step, path, x, y, dtype)
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
        share = math.inf if tolerance is None else tolerance.share(difference)
        if share > 1 and result.beyond is None:
            result.beyond = difference
        if result.worst is None or share > result.worst_share:
            result.worst, result.worst_share = difference, share
    return result


@dataclass
class RecordsDiff:
    """The whole comparison: a gap for every pair of records, and where one run ends
    before the other (``ends``: the name of the shorter run and the step it ends at)."""

    steps: list[StepGap]
    records: int
    ends: tuple[str, int, int] | None = None  # (shorter run, its last step, the other's last)
    tolerance: Tolerance | None = None

    @property
    def identical(self) -> bool:
        return self.ends is None and all(s.differing == 0 for s in self.steps)

    @property
    def agree(self) -> bool:
        """Identical, or every difference within the tolerance (and neither run longer)."""
        return self.ends is None and self.first is None

    @property
    def first(self) -> StepGap | None:
        """The first step with a difference beyond the tolerance (any, without one)."""
        return next((s for s in self.steps if s.beyond is not None), None)

    @property
    def worst(self) -> StepGap | None:
        """The step with the difference that takes the largest share of the tolerance."""
        differing = [s for s in self.steps if s.worst is not None]
        return max(differing, key=lambda s: s.worst_share, default=None)


def _epoch(record: Record) -> int | None:
    epoch = record.get("epoch_end")
    return epoch if isinstance(epoch, int) else None


def name_of(source: str) -> str:
    return "stdin" if source == STDIN else source


def compare(a: str, b: str, tolerance: Tolerance | None = None) -> RecordsDiff:
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
        dtypes = {record_dtype(record_a), record_dtype(record_b)}
        dtype = None if None in dtypes else "float64" if "float64" in dtypes else "float32"
        steps.append(compare_records(record_a["step"], record_a, record_b, tolerance, dtype))
    return RecordsDiff(steps, count, ends, tolerance)


def _value(v: Any) -> str:
    return repr(v) if not isinstance(v, str) else v


def _ulps(d: Difference) -> str:
    if d.ulps is None:
        return ""
    return f" ({d.ulps} {d.ulp_kind} ULP{'s' * (d.ulps != 1)})"


def _gap_words(d: Difference) -> str:
    """``|A − B| 1.19e-06 (160 float32 ULPs), relative 3.1e-07``, or both values."""
    if d.abs_diff is None:
        return f"A {_value(d.a)}, B {_value(d.b)}"
    return f"|A − B| {d.abs_diff:.3g}{_ulps(d)}, relative {d.relative:.3g}"


def _where(s: StepGap, d: Difference) -> str:
    """``step 15, parameter w, grad[0]``, ``the end of epoch 1 (step 23), val_loss``."""
    return f"{s.when}, " + (
        d.field if d.parameter is None else f"parameter {d.parameter}, {d.field}"
    )


def worst_lines(result: RecordsDiff) -> list[str]:
    """The largest gap, measured by the tolerance: where, and how large; none when the runs
    are identical or there is no tolerance."""
    s = result.worst
    if result.tolerance is None or s is None or s.worst is None:
        return []
    beyond = "beyond" if s.worst_share > 1 else "within"
    return [
        f"gradcli diff: the largest gap ({beyond} {result.tolerance}):",
        f"  {_where(s, s.worst)}",
        f"  {_gap_words(s.worst)}",
    ]


def agreement_line(result: RecordsDiff, a: str, b: str) -> str:
    """What a person is told when the runs agree: bit for bit, or within the tolerance."""
    records = f"{result.records} record" + "s" * (result.records != 1)
    names = f"gradcli diff: {name_of(a)} and {name_of(b)}"
    if result.identical:
        return f"{names} agree bit for bit: {records}"
    differing = sum(1 for s in result.steps if s.differing)
    return (
        f"{names} agree within {result.tolerance}: {records}, {differing} of them not bit for bit"
    )


def first_lines(result: RecordsDiff, a: str, b: str) -> list[str]:
    """Where the runs part, in words: the step, parameter, field, both values, the gap."""
    first = result.first
    ending = []
    if result.ends is not None:
        shorter, last, other = result.ends
        ending = [f"  {shorter} ends at step {last}; the other goes on to step {other}"]
    within = "" if result.tolerance is None else f" within {result.tolerance}"
    if first is None or first.beyond is None:
        return [
            f"gradcli diff: {name_of(a)} and {name_of(b)} agree{within} on every record they "
            f"share ({result.records})",
            *ending,
        ]
    d = first.beyond
    beyond = "" if result.tolerance is None else f" beyond {result.tolerance}"
    width = max(len(name_of(a)), len(name_of(b)))
    lines = [
        f"gradcli diff: {name_of(a)} and {name_of(b)} part{beyond} at {_where(first, d)}:",
        f"  {name_of(a).ljust(width)}  {_value(d.a)}",
        f"  {name_of(b).ljust(width)}  {_value(d.b)}",
    ]
    if d.abs_diff is not None:
        relative = "" if result.tolerance is None else f", relative {d.relative:.3g}"
        lines.append(f"  |A − B| {d.abs_diff:.3g}{_ulps(d)}{relative}")
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


def step_object(s: StepGap, tolerance: Tolerance | None = None) -> dict[str, Any]:
    """One record pair for machines; with a tolerance, ``within`` too."""
    first, largest = s.first, s.largest
    epoch = {} if s.epoch is None else {"epoch_end": s.epoch}  # a pair of epochs' ends
    within = {} if tolerance is None else {"within": s.worst_share <= 1}
    return {
        "step": s.step,
        **epoch,
        "identical": s.differing == 0,
        **within,
        "differing": s.differing,
        "max_abs_diff": s.max_abs_diff,
        "max_ulps": s.max_ulps,
        "largest_at": None if largest is None else largest.where,
        "first_at": None if first is None else first.where,
        "a": None if first is None else first.a,
        "b": None if first is None else first.b,
    }
