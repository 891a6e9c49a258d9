"""The lines of a plain table — no box, no header, text cells — composed directly: what rich
draws for it, segment for segment, without the general machinery.

A help screen is such tables (typer's option panels: one row per option, its help a
``Columns`` of the help text and ``[default: ...]``). rich renders every cell through two
nested tables (the ``Columns`` is a grid) and pads, aligns and shapes each cell's lines
three times over: 55 ms of ``gradcli optim -h``'s 0.29 s at 80 columns, against 3 ms to
wrap the text. Here each text is wrapped once by rich itself (``Console.render_lines``) and
the lines are laid side by side with the widths rich would choose (rich's own column-width
arithmetic, ``private_api.column_widths``). Any other table, or a cell this does not know,
is left to rich (``None``); tests/test_quick_table.py checks the two agree, colours and
all, for every help screen at several widths.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.columns import Columns
from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.padding import Padding
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from gradcli.private_api import column_widths

Lines = list[list[Segment]]


def quick_lines(console: Console, table: Table, options: ConsoleOptions) -> Lines | None:
    """``table``'s lines as rich would draw them at ``options``, or ``None`` where the table
    is not a plain one (``plain``)."""
    if not plain(table):
        return None
    widths = column_widths(console, table, options)
    if widths is None:
        return None
    _top, right, _bottom, left = Padding.unpack(table.padding)
    last = len(table.columns) - 1
    pads = [(0 if i == 0 else left, 0 if i == last else right) for i in range(last + 1)]
    render = options.update(highlight=table.highlight, height=None)
    lines: Lines = []
    for row in range(table.row_count):
        cells: list[Lines] = []
        for column, width, (before, after) in zip(table.columns, widths, pads, strict=True):
            inner = render.update(
                width=width - before - after,
                justify=column.justify,
                no_wrap=column.no_wrap,
                overflow=column.overflow,
                highlight=column.highlight,
            )
            drawn = cell_lines(console, column._cells[row], inner)
            if drawn is None:
                return None
            cells.append(_padded(drawn, width - before - after, before, after))
        height = max(1, *(len(cell) for cell in cells))
        for i in range(height):
            line: list[Segment] = []
            for cell, width in zip(cells, widths, strict=True):
                line.extend(cell[i] if i < len(cell) else [Segment(" " * width)])
            lines.append(_merged(line))
    return lines


def _merged(line: list[Segment]) -> list[Segment]:
    """``line`` with each run of unstyled segments made one: the same characters and no
    escape codes either way, in fewer segments for the panel around the table to measure."""
    merged: list[Segment] = []
    for segment in line:
        last = merged[-1] if merged else None
        if last and not (segment.style or last.style or segment.control or last.control):
            merged[-1] = Segment(last.text + segment.text)
        else:
            merged.append(segment)
    return merged


def plain(table: Table) -> bool:
    """A table drawn as its cells side by side and nothing else: no box, header, footer,
    title, caption, lines between rows, leading, row or column styles, a padding of
    ``(0, x)`` not at the edges, and every column at the top of its row."""
    return (
        table.box is None
        and not (table.show_header or table.show_footer or table.show_lines)
        and not (table.title or table.caption or table.leading or table.row_styles)
        and not (table.pad_edge or table.collapse_padding)
        and table.style in (None, "", "none")
        and table.width is None
        and Padding.unpack(table.padding)[0::2] == (0, 0)
        and all(_plain_column(column) for column in table.columns)
        and all(row.style is None and not row.end_section for row in table.rows)
    )


def _plain_column(column: object) -> bool:
    return (
        getattr(column, "style", None) in (None, "", "none")
        and getattr(column, "vertical", "top") == "top"
        and not getattr(column, "footer", None)
    )


def cell_lines(console: Console, cell: object, options: ConsoleOptions) -> Lines | None:
    """A cell's lines, each ``options.max_width`` wide: a text as rich renders it, a
    ``Columns`` of texts as ``columns_lines``; ``None`` for anything else."""
    if options.max_width < 1:  # a column rich squeezed out: nothing (Console.render)
        return []
    if isinstance(cell, str):
        cell = console.render_str(cell, highlight=options.highlight)
    if isinstance(cell, Text):
        return text_lines(console, cell, options)
    if isinstance(cell, Columns):
        return columns_lines(console, cell, options)
    return None


def text_lines(console: Console, text: Text, options: ConsoleOptions) -> Lines:
    """``text``'s lines at ``options.max_width``. A text of one line that fits (most cells
    of a help screen: an option's name, its placeholder, nothing) is what rich's wrapping
    makes of it, padded by ``Text.truncate`` as ``Lines.justify`` pads it (the spaces in
    the text's own style) and joined as ``Text.__rich_console__`` joins the lines, without
    the wrapping; any other as rich renders it."""
    width = options.max_width
    justify = text.justify or options.justify or "default"
    if (
        justify not in ("default", "left")
        or "\n" in text.plain
        or "\t" in text.plain
        or cell_len(text.plain) > width
    ):
        return console.render_lines(text, options, pad=True)
    line = text.copy()
    if justify == "left":
        line.truncate(width, pad=True)
    line = Text("\n").join([line])  # (as rich joins a text's lines: its style becomes a span)
    segments = list(line.render(console))
    missing = width - cell_len(line.plain)
    return [[*segments, Segment(" " * missing)] if missing > 0 else segments]


def columns_lines(console: Console, columns: Columns, options: ConsoleOptions) -> Lines | None:
    """A ``Columns`` of texts as rich lays it out: as many to a row as fit with their widest
    lines and one padding between (the most that fit, trying fewer), each column as wide as
    its widest item, the rows padded to ``options.max_width``."""
    items = columns.renderables
    if (
        columns.width is not None
        or columns.equal
        or columns.align
        or columns.column_first
        or columns.right_to_left
        or columns.expand
        or columns.title
        or not all(isinstance(item, Text) and item.plain for item in items)
    ):  # (an empty text gets a column of one cell, which may not fit: rich squeezes)
        return None
    width = options.max_width
    if not items:
        return []
    _top, right, _bottom, left = Padding.unpack(columns.padding)
    gap = max(left, right)
    sizes = [Measurement.get(console, options, item).maximum for item in items]
    count = _column_count(sizes, gap, width)
    tops = [
        max(sizes[start + c] for start in range(0, len(items), count) if start + c < len(items))
        for c in range(count)
    ]
    lines: Lines = []
    for start in range(0, len(items), count):
        row = items[start : start + count]
        drawn = [
            console.render_lines(
                item,
                options.update(width=tops[c], justify="left", overflow="ellipsis", no_wrap=False),
                pad=True,
            )
            for c, item in enumerate(row)
        ]
        drawn += [[]] * (count - len(row))  # (the last row's missing items: blanks)
        for i in range(max(1, *(len(cell) for cell in drawn))):
            line: list[Segment] = []
            for c, cell in enumerate(drawn):
                line.extend(cell[i] if i < len(cell) else [Segment(" " * tops[c])])
                if c < count - 1:
                    line.append(Segment(" " * right))
            used = sum(tops) + right * (count - 1)
            if used < width:
                line.append(Segment(" " * (width - used)))
            lines.append(line)
    return lines


def _column_count(sizes: list[int], gap: int, width: int) -> int:
    """rich's ``Columns``: start with every item in one row; where a row of ``count``
    columns would be wider than ``width``, try one fewer than the columns that fit."""
    count = len(sizes)
    while count > 1:
        widths: dict[int, int] = {}
        column = 0
        padded = sizes + [0] * (-len(sizes) % count)
        for size in padded:
            widths[column] = max(widths.get(column, 0), size)
            if sum(widths.values()) + gap * (len(widths) - 1) > width:
                count = len(widths) - 1
                break
            column = (column + 1) % count
        else:
            break
    return count


def _padded(lines: Lines, width: int, before: int, after: int) -> Lines:
    """Each line with ``before`` spaces in front and ``after`` behind (a cell's padding)."""
    if not (before or after):
        return lines
    front = [Segment(" " * before)] if before else []
    back = [Segment(" " * after)] if after else []
    return [[*front, *line, *back] for line in lines]
