"""Column widths of a table that must fit the terminal (gradcli/render/fit.py): the fast
``narrowed`` gives exactly the widths of the plain one-by-one rule it replaces."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from gradcli.private_api import table_frame
from gradcli.render.fit import fit_columns, narrowed, narrowed_one_by_one


@st.composite
def columns(draw):
    count = draw(st.integers(1, 8))
    least = draw(st.lists(st.integers(1, 40), min_size=count, max_size=count))
    widest = [lo + draw(st.integers(0, 300)) for lo in least]
    room = draw(st.integers(sum(least), sum(widest) + 5))
    return widest, least, room


@given(columns())
def test_narrowed_is_the_one_by_one_rule(case):
    widest, least, room = case
    widths = narrowed(widest, least, room)
    assert widths == narrowed_one_by_one(widest, least, room)
    assert sum(widths) <= room
    assert all(lo <= w <= hi for lo, w, hi in zip(least, widths, widest, strict=True))


def test_ties_give_the_first_column_first():
    # three columns of 10 that can give down to 1, 2 characters too many: the first two give
    assert narrowed([10, 10, 10], [1, 1, 1], 28) == [9, 9, 10]


def test_a_help_text_measured_unbounded_is_narrowed_at_once():
    """A description measured at width 2**20 is thousands of characters wide: the one-by-one
    rule took one pass per character (gradcli optim -h: 5.7 s)."""
    widths = narrowed([30, 12, 5000], [28, 5, 14], 80)
    assert widths == [30, 12, 38]


class Counted:
    """A cell that counts how often it is measured (and draws as its text)."""

    def __init__(self, text: str) -> None:
        self.text = Text(text)
        self.measured = 0

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        self.measured += 1
        return Measurement.get(console, options, self.text)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.text


TABLES = [
    {},
    {"box": None},
    {"box": box.SIMPLE, "show_edge": False},
    {"box": box.ROUNDED, "padding": (0, 2)},
    {"box": None, "pad_edge": False, "padding": (0, 3, 0, 1)},
    {"box": box.SQUARE, "collapse_padding": True, "padding": (0, 1, 0, 2)},
]


@pytest.mark.parametrize("settings", TABLES)
def test_the_frame_is_what_the_whole_table_adds_to_its_cells(settings):
    """``table_frame`` (edges, rules, padding: rich's private names) is what measuring the
    whole table adds to its columns' widest words, which fit_columns measured before."""
    table = Table(**settings)
    for _ in range(3):
        table.add_column()
    table.add_row("a few words here", "1.25e-05", "x")
    table.add_row("more", "0.5", "a longer cell of words")
    console = Console(width=80)
    unbounded = console.options.update_width(1 << 20)
    whole = Measurement.get(console, unbounded, table)
    words = sum(
        max(Measurement.get(console, unbounded, cell).minimum for cell in column.cells)
        for column in table.columns
    )
    frame = table_frame(table)
    if table.collapse_padding:  # a cell's padding depends on its neighbours': not known here
        assert frame is None
    else:
        assert frame == whole.minimum - words


@pytest.mark.parametrize("width", [30, 60, 200])
def test_fit_columns_measures_each_cell_once(width):
    """Measuring the whole table measured every cell twice more (a help screen of 400 lines:
    a third of ``gradcli optim -h``'s drawing); the cell widths and the result are the same."""
    cells = [Counted("a cell of several words"), Counted("1.25e-05"), Counted("x " * 20)]
    table = Table()
    for _ in cells:
        table.add_column()
    table.add_row(*cells)
    console = Console(width=width, file=io.StringIO())
    assert fit_columns(console, table, width)
    assert [cell.measured for cell in cells] == [1, 1, 1]
    if width == 60:  # wrapped: the widest columns gave first, none below its widest word
        assert [column.width for column in table.columns] == [21, 8, 21]
