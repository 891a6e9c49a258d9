"""Sinks: one per output format, all fed the same records.

A training sink gets ``start(info)`` once, ``step(record)`` for each shown step and
``finish(summary)`` at the end; a compare sink gets ``step`` and ``finish(summaries)``.
Data goes to stdout; words go to stderr through ``Output.say``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gradcli.output import Output
    from gradcli.records import CompareRecord, MethodSummary, RunInfo, StepRecord, Summary


class Sink(Protocol):
    def start(self, info: RunInfo) -> None: ...

    def step(self, record: StepRecord) -> None: ...

    def finish(self, summary: Summary) -> None: ...


class CompareSink(Protocol):
    def step(self, record: CompareRecord) -> None: ...

    def finish(self, summaries: list[MethodSummary]) -> None: ...


def _make(output: Output, compare: bool) -> Any:
    """The one place a format becomes a sink, for training runs and for compare."""
    fmt = output.resolved_format()
    if fmt == "table":
        from gradcli.render import table

        cls = table.CompareTableSink if compare else table.TableSink
        return cls(output.console(sys.stdout))
    if fmt in ("csv", "tsv"):
        from gradcli.render import delimited

        cls = delimited.CompareDelimitedSink if compare else delimited.DelimitedSink
        return cls(sys.stdout, output, "," if fmt == "csv" else "\t")
    from gradcli.render import jsonl

    cls = jsonl.CompareJsonlSink if compare else jsonl.JsonlSink
    return cls(sys.stdout, output)


def make_sink(output: Output) -> Sink:
    return _make(output, compare=False)  # type: ignore[no-any-return]


def make_compare_sink(output: Output) -> CompareSink:
    return _make(output, compare=True)  # type: ignore[no-any-return]
