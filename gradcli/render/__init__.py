"""Sinks: one per output format, all fed the same records.

A training sink gets ``start(info)`` once, ``step(record)`` for each shown step,
``epoch(record)`` at the end of each epoch of a run on ``--data``, and ``finish(summary)``
at the end; a compare sink gets ``start(info)`` (what its runs share, with ``command``
compare), ``step``, ``epoch`` (on ``--data``) and ``finish(summaries)``.
A listing (optimizers, params, graph, pitfalls) is shown by ``show_rows``: a table for a
person, flat rows for machines. Data goes to stdout; words go to stderr through
``Output.say``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gradcli.render.rows import write_rows

if TYPE_CHECKING:
    from rich.console import Console

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


class Sink(Protocol):
    def start(self, info: RunInfo) -> None: ...

    def step(self, record: StepRecord) -> None: ...

    def epoch(self, record: EpochRecord) -> None: ...

    def finish(self, summary: Summary) -> None: ...


class CompareSink(Protocol):
    def start(self, info: RunInfo) -> None: ...

    def step(self, record: CompareRecord) -> None: ...

    def epoch(self, record: CompareEpochRecord) -> None: ...

    def finish(self, summaries: list[MethodSummary]) -> None: ...


def _make(output: Output, compare: bool, data: bool = False) -> Any:
    """The one place a format becomes a sink, for training runs and for compare (``data``:
    compare's runs are on --data)."""
    fmt = output.resolved_format()
    if fmt == "table":
        if compare:
            from gradcli.render.compare_table import CompareTableSink

            return CompareTableSink(output.console(sys.stdout))
        from gradcli.render.table import TableSink

        return TableSink(output.console(sys.stdout))
    if fmt in ("csv", "tsv"):
        from gradcli.render import delimited

        delimiter = "," if fmt == "csv" else "\t"
        if compare:
            return delimited.CompareDelimitedSink(sys.stdout, output, delimiter, data)
        return delimited.DelimitedSink(sys.stdout, output, delimiter)
    from gradcli.render import jsonl

    cls = jsonl.CompareJsonlSink if compare else jsonl.JsonlSink
    return cls(sys.stdout, output)


def make_sink(output: Output) -> Sink:
    return _make(output, compare=False)  # type: ignore[no-any-return]


def make_compare_sink(output: Output, data: bool = False) -> CompareSink:
    return _make(output, compare=True, data=data)  # type: ignore[no-any-return]


def show_rows(
    output: Output,
    table: Callable[[Console], None],
    rows: Callable[[str], Iterable[dict[str, Any]]],
    header: Sequence[str] | None = None,
    own: Mapping[str, Callable[[], str]] | None = None,
) -> None:
    """The one place a listing's format becomes its writer: ``table(console)`` draws it for a
    person; ``rows(fmt)`` gives its rows for jsonl, csv and tsv (see ``render.rows``), under
    ``header`` (default: the first row's keys), each written as it comes (given ``header``,
    a stream of rows is never kept whole); ``own`` maps a format of the listing's own
    (graph's dot) to its text."""
    fmt = output.resolved_format()
    if fmt == "table":
        table(output.console(sys.stdout))
    elif own is not None and fmt in own:
        sys.stdout.write(own[fmt]())
    else:
        found = rows(fmt)
        if header is None:
            found = list(found)
            header = list(found[0]) if found else []
        write_rows(sys.stdout, fmt, found, header)
