"""Sinks: one per output format, all fed the same records.

A training sink gets ``start(info)`` once, ``step(record)`` for each shown step and
``finish(summary)`` at the end; a compare sink gets ``step`` and ``finish(summaries)``.
Data goes to stdout; words go to stderr through ``Output.say``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gradcli.compare import CompareRecord, MethodSummary
    from gradcli.engine import RunInfo
    from gradcli.output import Output
    from gradcli.records import StepRecord, Summary


class Sink(Protocol):
    def start(self, info: RunInfo) -> None: ...

    def step(self, record: StepRecord) -> None: ...

    def finish(self, summary: Summary) -> None: ...


class CompareSink(Protocol):
    def step(self, record: CompareRecord) -> None: ...

    def finish(self, summaries: list[MethodSummary]) -> None: ...


def make_sink(output: Output) -> Sink:
    fmt = output.resolved_format()
    if fmt == "table":
        from gradcli.render.table import TableSink

        return TableSink(output.console(sys.stdout))
    if fmt in ("csv", "tsv"):
        from gradcli.render.delimited import DelimitedSink

        return DelimitedSink(sys.stdout, output, "," if fmt == "csv" else "\t")
    from gradcli.render.jsonl import JsonlSink

    return JsonlSink(sys.stdout, output)


def make_compare_sink(output: Output) -> CompareSink:
    fmt = output.resolved_format()
    if fmt == "table":
        from gradcli.render.table import CompareTableSink

        return CompareTableSink(output.console(sys.stdout))
    if fmt in ("csv", "tsv"):
        from gradcli.render.delimited import CompareDelimitedSink

        return CompareDelimitedSink(sys.stdout, output, "," if fmt == "csv" else "\t")
    from gradcli.render.jsonl import CompareJsonlSink

    return CompareJsonlSink(sys.stdout, output)
