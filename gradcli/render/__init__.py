"""Sinks: one per output format, all fed the same step records.

A sink gets ``start(info)`` once, ``step(record)`` for each shown step, and
``finish(summary)`` at the end. Data goes to stdout; words go to stderr.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from gradcli.compare import CompareRecord, MethodSummary
    from gradcli.engine import RunInfo
    from gradcli.records import StepRecord, Summary


class Sink(Protocol):
    def start(self, info: RunInfo) -> None: ...

    def step(self, record: StepRecord) -> None: ...

    def finish(self, summary: Summary) -> None: ...


def resolve_format(fmt: str, stream: TextIO) -> str:
    """``auto`` is a table on a terminal and JSON lines everywhere else."""
    if fmt != "auto":
        return fmt
    return "table" if stream.isatty() else "jsonl"


def make_sink(fmt: str, stream: TextIO | None = None) -> Sink:
    out = sys.stdout if stream is None else stream
    fmt = resolve_format(fmt, out)
    if fmt == "table":
        from gradcli.render.table import TableSink

        return TableSink(out)
    from gradcli.render.jsonl import JsonlSink

    return JsonlSink(out)


class CompareSink(Protocol):
    def step(self, record: CompareRecord) -> None: ...

    def finish(self, summaries: list[MethodSummary]) -> None: ...


def make_compare_sink(fmt: str, stream: TextIO | None = None) -> CompareSink:
    out = sys.stdout if stream is None else stream
    if resolve_format(fmt, out) == "table":
        from gradcli.render.table import CompareTableSink

        return CompareTableSink(out)
    from gradcli.render.jsonl import CompareJsonlSink

    return CompareJsonlSink(out)
