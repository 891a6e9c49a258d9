"""CSV and TSV: a header row, then one row per step and parameter (schema in docs/pipelines.md).

Every row carries the L2 norm, mean, min and max of the value, gradient and update, so a
column means the same for every parameter; tensors of at most 8 elements also carry their
elements, separated by ``;`` (no cell has a space, so ``-f tsv | column -t`` lines up and
``-f csv | column -s, -t`` does). Floats are written at full precision (Python's repr, which reads
back to the same number); non-finite ones as ``nan``, ``inf``, ``-inf``; a missing number
(step 0 has no loss, gradient or update) as an empty cell.
"""

from __future__ import annotations

import csv
import math
from typing import TYPE_CHECKING, TextIO

from gradcli.printable import printable
from gradcli.records import Stats, Values
from gradcli.render.jsonl import compare_summary_lines, summary_line
from gradcli.render.rows import SEPARATOR

if TYPE_CHECKING:
    from gradcli.output import Output
    from gradcli.records import (
        CompareEpochRecord,
        CompareRecord,
        EpochRecord,
        MethodSummary,
        RunInfo,
        StepRecord,
        Summary,
    )

QUANTITIES = ("value", "grad", "update")
STATS = ("norm", "mean", "min", "max")
HEADER = [
    "step",
    "loss",
    "param",
    "shape",
    *QUANTITIES,
    *(f"{q}_{s}" for q in QUANTITIES for s in STATS),
    # added after the others, so the columns before keep their places: the step's lr, and
    # with clipping the total norm before it (JSON lines' grad_norm) and whether it fired
    "lr",
    "total_grad_norm",
    "clipped",
]
# with --data, after those: where the step is, and (on the row that ends an epoch, whose
# param is empty and whose loss is the epoch's training loss) the epoch's evaluation
DATA_HEADER = ["epoch", "batch", "train_accuracy", "val_loss", "val_accuracy"]
# with --amp fp16, after those: the loss scale of the step and whether its update was skipped
SCALING_HEADER = ["scale", "skipped"]
COMPARE_HEADER = [
    "step",
    "optimizer",
    "label",
    "lr",
    "manual_loss",
    "optim_loss",
    "max_abs_diff",
    "max_ulps",
    "bit_identical",
]


def csv_number(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def _sum(xs: list[float]) -> float:
    """The exact sum (``math.fsum``); with infinities of both signs NaN, as torch sums them
    (a gradient that overflowed: --amp fp16's skipped step, a diverged one)."""
    try:
        return math.fsum(xs)
    except (ValueError, OverflowError):
        return sum(xs)


def stats_of(v: Values) -> Stats:
    if isinstance(v, Stats):
        return v
    return Stats(math.sqrt(_sum([x * x for x in v])), _sum(list(v)) / len(v), min(v), max(v))


def elements(v: Values | None) -> str:
    return "" if v is None or isinstance(v, Stats) else SEPARATOR.join(csv_number(x) for x in v)


def _where(epoch: int | None, batch: int | None) -> list[str]:
    """A step's cells of ``DATA_HEADER``: its epoch and batch (empty at step 0)."""
    return ["" if epoch is None else str(epoch), "" if batch is None else str(batch), "", "", ""]


def _scaling(record: StepRecord) -> list[str]:
    """A step's cells of ``SCALING_HEADER`` (empty at step 0)."""
    skipped = "" if record.skipped is None else str(record.skipped).lower()
    return [csv_number(record.scale), skipped]


class _Writer:
    def __init__(
        self, out: TextIO, output: Output, delimiter: str, header: list[str] | None
    ) -> None:
        self.out = out
        self.output = output
        self.writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        if header is not None:
            self.writer.writerow(header)

    def row(self, cells: list[str]) -> None:
        self.writer.writerow([printable(cell) for cell in cells])


class DelimitedSink(_Writer):
    def __init__(self, out: TextIO, output: Output, delimiter: str) -> None:
        super().__init__(out, output, delimiter, None)  # the header once start() says more
        self.data = False
        self.scaled = False

    def start(self, info: RunInfo) -> None:
        self.data = info.data is not None
        self.scaled = info.scaler is not None
        self.row(HEADER + DATA_HEADER * self.data + SCALING_HEADER * self.scaled)

    def step(self, record: StepRecord) -> None:
        for p in record.params:
            quantities = (p.value, p.grad, p.update)
            stats = [stats_of(v) if v is not None else None for v in quantities]
            self.row(
                [
                    str(record.step),
                    csv_number(record.loss),
                    p.name,
                    "x".join(map(str, p.shape)),
                    *(elements(v) for v in quantities),
                    *(
                        csv_number(None if s is None else getattr(s, name))
                        for s in stats
                        for name in STATS
                    ),
                    csv_number(record.lr),
                    csv_number(record.grad_norm),
                    "" if record.clipped is None else str(record.clipped).lower(),
                    *(_where(record.epoch, record.batch) if self.data else []),
                    *(_scaling(record) if self.scaled else []),
                ]
            )
        self.out.flush()

    def epoch(self, record: EpochRecord) -> None:
        self.row(
            [
                str(record.step),
                csv_number(record.train_loss),
                *[""] * (len(HEADER) - 5),  # param ... update_max: no parameter's
                csv_number(record.lr),
                "",
                "",
                str(record.epoch),
                "",
                csv_number(record.train_accuracy),
                csv_number(record.val_loss),
                csv_number(record.val_accuracy),
                *["", ""] * self.scaled,
            ]
        )
        self.out.flush()

    def finish(self, summary: Summary) -> None:
        self.output.say(summary_line(summary))


class CompareDelimitedSink(_Writer):
    """With --data, the columns of ``DATA_HEADER`` after the others; a row that ends an
    epoch has the epoch's training loss as ``optim_loss`` and empty gaps."""

    def __init__(self, out: TextIO, output: Output, delimiter: str, data: bool = False) -> None:
        super().__init__(out, output, delimiter, COMPARE_HEADER + DATA_HEADER * data)
        self.data = data

    def start(self, info: RunInfo) -> None:
        pass  # (a row names its run: optimizer, label, lr)

    def step(self, record: CompareRecord) -> None:
        self.row(
            [
                str(record.step),
                record.optimizer,
                record.label,
                csv_number(record.lr),
                csv_number(record.manual_loss),
                csv_number(record.optim_loss),
                csv_number(record.max_abs_diff),
                str(record.max_ulps),
                "true" if record.bit_identical else "false",
                *(_where(record.epoch, record.batch) if self.data else []),
            ]
        )
        self.out.flush()

    def epoch(self, record: CompareEpochRecord) -> None:
        end = record.record
        self.row(
            [
                str(end.step),
                record.optimizer,
                record.label,
                csv_number(end.lr),
                "",
                csv_number(end.train_loss),
                "",
                "",
                "",
                str(end.epoch),
                "",
                csv_number(end.train_accuracy),
                csv_number(end.val_loss),
                csv_number(end.val_accuracy),
            ]
        )
        self.out.flush()

    def finish(self, summaries: list[MethodSummary]) -> None:
        for line in compare_summary_lines(summaries):
            self.output.say(line)
