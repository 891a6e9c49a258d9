"""``gradcli schedule``: each step's lr by hand and by torch, as a table with the curve under
it, or as rows for machines (one per step; keys in ``side_by_side.FIELDS``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from gradcli.pictures.plot import plot

if TYPE_CHECKING:
    from rich.console import Console

    from gradcli.output import Output
    from gradcli.schedules.schedule_spec import ScheduleSpec
    from gradcli.schedules.side_by_side import ScheduleRow


class Tally:
    """Rows counted as they stream past, and the first whose two sides part: the summary
    line of a schedule too long to keep."""

    def __init__(self) -> None:
        self.count = 0
        self.first: ScheduleRow | None = None

    def watch(self, rows: Iterable[ScheduleRow]) -> Iterator[ScheduleRow]:
        for row in rows:
            self.count += 1
            if self.first is None and not row.bit_identical:
                self.first = row
            yield row

    def summary(self, key: str | None) -> str:
        """One line: bit-identical for every step, or where the two first part."""
        from gradcli.schedules.side_by_side import same_bits

        row = self.first
        if row is None:
            return f"bit-identical for all {self.count} steps"
        if not same_bits(row.lr, row.torch_lr):
            return (
                f"first difference at step {row.step}: lr {row.lr!r} by hand, "
                f"{row.torch_lr!r} by torch"
            )
        return (
            f"first difference at step {row.step}: {key} {row.momentum!r} by hand, "
            f"{row.torch_momentum!r} by torch"
        )


def summary(rows: Iterable[ScheduleRow], key: str | None) -> str:
    """One line: bit-identical for every step, or where the two first part."""
    tally = Tally()
    for _ in tally.watch(rows):
        pass
    return tally.summary(key)


def closed_form_line(rows: list[ScheduleRow]) -> str | None:
    """Where torch's closed form parts from the recursion its ``step()`` runs, in words."""
    gaps = [abs(r.closed_form - r.torch_lr) for r in rows if r.closed_form is not None]
    if not gaps:
        return None
    differ = sum(1 for g in gaps if g != 0)
    if not differ:
        return "torch's closed form gives the same lr at every step"
    return (
        f"torch's closed form differs from its step-by-step lr at {differ} of {len(rows)} steps "
        f"(largest gap {max(gaps):.3g}): step() multiplies the previous lr"
    )


def _number(x: float | None, digits: int = 6) -> str:
    return "" if x is None else f"{x:.{digits}g}"


def show_schedule(
    spec: ScheduleSpec, rows: Iterable[ScheduleRow], key: str | None, output: Output, note: str
) -> None:
    """The schedule's steps: a table, the summary and the curves for a person (the rows
    kept); its rows in a machine format (``render.show_rows`` picks which), written as they
    come, the summary then on stderr."""
    from gradcli.render import show_rows
    from gradcli.schedules.side_by_side import FIELDS

    tally = Tally()

    def draw(console: Console) -> None:
        kept = list(rows)
        from rich import box
        from rich.markup import escape
        from rich.table import Table

        closed = any(r.closed_form is not None for r in kept)
        losses = any(r.loss is not None for r in kept)
        console.print(f"[bold]{escape(spec.text)}[/]: each step's lr by hand and by torch")
        table = Table(box=box.SIMPLE_HEAD)
        columns = ["step", "lr", "torch lr", "same bits"]
        columns += ["closed form − lr"] if closed else []
        columns += [key, f"torch {key}"] if key else []
        columns += ["loss"] if losses else []
        for column in columns:
            table.add_column(column, no_wrap=True, justify="right" if column == "step" else "left")
        for r in kept:
            cells = [str(r.step), _number(r.lr), _number(r.torch_lr)]
            cells.append("yes" if r.bit_identical else "[bold red]no[/]")
            if closed:
                gap = None if r.closed_form is None else r.closed_form - r.torch_lr
                cells.append("" if not gap else f"{gap:+.3g}")
            if key:
                cells += [_number(r.momentum), _number(r.torch_momentum)]
            if losses:
                cells.append(_number(r.loss))
            table.add_row(*cells)
        console.print(table)
        lines = [summary(kept, key), closed_form_line(kept), note]
        for line in lines:
            if line:
                console.print(line, highlight=False, markup=False)
        console.print()
        width = min(console.width, 100)
        # a gap at index 0: the x axis reads 0..N, the points sit at steps 1..N
        for line in plot({"lr": [math.nan] + [r.torch_lr for r in kept]}, width=width, title="lr"):
            console.print(line, highlight=False, markup=False)
        if key:
            console.print()
            curve = [math.nan] + [
                math.nan if r.torch_momentum is None else r.torch_momentum for r in kept
            ]
            for line in plot({key: curve}, width=width, height=8, title=key):
                console.print(line, highlight=False, markup=False)

    show_rows(output, draw, lambda fmt: (r.as_dict() for r in tally.watch(rows)), FIELDS)
    if output.resolved_format() != "table":  # (the table prints it)
        output.say(tally.summary(key))
