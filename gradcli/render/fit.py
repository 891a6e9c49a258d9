"""Tables that fit the terminal: a table too wide to show every number whole is stacked.

rich shrinks a table that is wider than the console by wrapping its cells, and where a
word (a number) is wider than its column it cuts it (``0.01119…``) or squeezes a column out
of sight. Rather than that, a table whose narrowest form does not fit is shown stacked:
each row as a block of ``header  cell`` lines, so every number stays whole at any width.
"""

from __future__ import annotations

from rich import box
from rich.columns import Columns
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Column, Table
from rich.text import Text

from gradcli.private_api import table_frame
from gradcli.render.quick_table import quick_lines


def fitted(console: Console, table: Table) -> RenderableType:
    """``table`` where each cell can be shown whole at the console's width (its columns
    sized by ``fit_columns``), else stacked."""
    return table if fit_columns(console, table, console.width) else stacked(table)


def fit_columns(console: Console, table: Table, width: int) -> bool:
    """Whether ``table`` can show every cell whole in ``width``; if it can only wrapped, its
    column widths are set here: each column at least its widest word (a ``no_wrap`` column
    its widest cell), and as rich does, the widest columns narrowed first, but none below
    that. (rich would cut a number in a column it narrowed below its widest word.)"""
    unbounded = console.options.update_width(1 << 20)  # (rich clamps a measure to the width)
    sizes = [_content(console, unbounded, table, column) for column in table.columns]
    widest = [max(m.maximum for m in column) for column in sizes]
    # what the table adds to its columns' content: padding, edges and rules (each cell is
    # measured once here: measuring the whole table measures every cell twice more)
    frame = table_frame(table)
    if frame is None:  # another rich, or collapsed padding
        whole = Measurement.get(console, unbounded, table)
        frame = whole.minimum - sum(max(m.minimum for m in column) for column in sizes)
    if sum(widest) + frame <= width:
        return True
    least = [
        w if c.no_wrap else max(m.minimum for m in column)
        for c, column, w in zip(table.columns, sizes, widest, strict=True)
    ]
    room = width - frame
    if sum(least) > room:
        return False
    for column, width_ in zip(table.columns, narrowed(widest, least, room), strict=True):
        column.width = width_
    return True


def narrowed_one_by_one(widest: list[int], least: list[int], room: int) -> list[int]:
    """The rule, plainly: while the columns take more than ``room``, narrow by one the widest
    column that can still give (the first of equals), none below its ``least``. One pass per
    character: slow where a cell was measured unbounded (a help text: thousands)."""
    widths = list(widest)
    while sum(widths) > room:
        giving = max(
            (i for i in range(len(widths)) if widths[i] > least[i]), key=widths.__getitem__
        )
        widths[giving] -= 1
    return widths


def narrowed(widest: list[int], least: list[int], room: int) -> list[int]:
    """The same widths as ``narrowed_one_by_one`` (tested against it), found at once: the
    one-by-one rule cuts every column down to a level before it takes any column below it,
    so find the lowest ``level`` at which the columns, each cut to it (none below its
    least), still take more than ``room`` (a bisection), cut them to it, and narrow by one
    the first of the columns at that level that can give, as many as the excess. (Measured:
    ``gradcli optim -h`` at 80 columns took 5.7 s one by one, 0.3 s so.)"""
    if sum(widest) <= room:
        return list(widest)

    def cut(level: int) -> list[int]:
        return [max(lo, min(hi, level)) for lo, hi in zip(least, widest, strict=True)]

    fits, too_wide = 0, max(widest)  # sum(cut(0)) = sum(least) <= room < sum(cut(max))
    while too_wide - fits > 1:
        middle = (fits + too_wide) // 2
        if sum(cut(middle)) <= room:
            fits = middle
        else:
            too_wide = middle
    widths = cut(too_wide)
    excess = sum(widths) - room
    for i, width in enumerate(widths):
        if excess == 0:
            break
        if width == too_wide and least[i] < too_wide:
            widths[i] -= 1
            excess -= 1
    return widths


class FittingTable(Table):
    """A Table that sizes its columns by ``fit_columns`` when drawn: typer's help panels,
    whose long option names (``--initial-accumulator-value``) rich would cut at 80 columns;
    drawn by ``quick_lines`` where the table is a plain one (a help panel: the same lines,
    several times faster), else by rich."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        fit_columns(console, self, options.max_width)
        lines = quick_lines(console, self, options)
        if lines is None:
            yield from super().__rich_console__(console, options)
            return
        new_line = Segment.line()
        for line in lines:
            yield from line
            yield new_line


def _content(
    console: Console, options: ConsoleOptions, table: Table, column: Column
) -> list[Measurement]:
    """How narrow and how wide each cell of a column can be (its header included)."""
    cells = [*column.cells, *([column.header] if table.show_header else [])]
    return [Measurement.get(console, options, cell) for cell in cells]


def stacked(table: Table) -> Table:
    """One block per row of ``table``: each column's header beside its cell."""
    columns = table.columns
    blocks = Table(
        title=table.title,
        title_justify=table.title_justify,
        caption=table.caption,
        caption_justify=table.caption_justify,
        box=box.SIMPLE,
        show_header=False,
    )
    blocks.add_column(style="bold", no_wrap=True)
    blocks.add_column()
    rows = [list(column.cells) for column in columns]
    count = len(rows[0]) if rows else 0
    for i in range(count):
        for column, cells in zip(columns, rows, strict=True):
            header = str(column.header).replace("\n", " ")
            blocks.add_row(header, _side_by_side(cells[i]), end_section=column is columns[-1])
    return blocks


def _side_by_side(cell: RenderableType) -> RenderableType:
    """A grid of ``label value`` rows (statistics) laid out along the line, as many pairs
    to a line as fit, so a stacked block stays short; any other cell as it is."""
    if not isinstance(cell, Table) or len(cell.columns) != 2:
        return cell
    labels, values = (list(column.cells) for column in cell.columns)
    pairs = [
        Text(f"{label} {value}", no_wrap=True) for label, value in zip(labels, values, strict=True)
    ]
    return Columns(pairs, padding=(0, 3))
