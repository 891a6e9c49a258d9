"""The help screens' tables composed directly (gradcli/render/quick_table.py) are what rich
draws, byte for byte, colours included; and ``gradcli --help`` builds no command."""

from __future__ import annotations

import contextlib
import io
import sys

import pytest
import typer
import typer.rich_utils
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.columns import Columns
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.cli.commands import COMMANDS
from gradcli.render import fit
from gradcli.render.quick_table import columns_lines, quick_lines

SCREENS = [["--help"], *([name, "--help"] for name in COMMANDS)]


def _help(args: list[str], width: int, monkeypatch: pytest.MonkeyPatch, quick: bool) -> str:
    with monkeypatch.context() as patch:
        if not quick:
            patch.setattr(fit, "quick_lines", lambda *_: None)
        result = CliRunner().invoke(app, args, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "colour"])
@pytest.mark.parametrize("args", SCREENS, ids=" ".join)
def test_every_help_screen_is_what_rich_draws(args, colour, monkeypatch):
    monkeypatch.setattr(typer.rich_utils, "FORCE_TERMINAL", colour)
    for width in (60, 80, 120):
        quick = _help(args, width, monkeypatch, quick=True)
        assert quick == _help(args, width, monkeypatch, quick=False), (args, width)
        if colour:
            assert "\x1b[" in quick  # (the colours were drawn)


@pytest.mark.slow  # 15 screens at 5 more widths
@pytest.mark.parametrize("args", SCREENS, ids=" ".join)
def test_every_help_screen_is_what_rich_draws_at_any_width(args, monkeypatch):
    monkeypatch.setattr(typer.rich_utils, "FORCE_TERMINAL", True)
    for width in (40, 50, 72, 100, 200):
        quick = _help(args, width, monkeypatch, quick=True)
        assert quick == _help(args, width, monkeypatch, quick=False), (args, width)


def test_the_help_tables_take_the_quick_path(monkeypatch):
    """Where quick_lines falls back to rich for a help table, it gained nothing."""
    answers = []

    def spy(*args):
        answers.append(quick_lines(*args))
        return answers[-1]

    monkeypatch.setattr(fit, "quick_lines", spy)
    CliRunner().invoke(app, ["optim", "--help"], env={"COLUMNS": "80"})
    assert len(answers) >= 5
    assert all(answer is not None for answer in answers)


TEXTS = st.lists(
    st.text(alphabet="ab [/]é漢", min_size=1, max_size=30).map(Text), min_size=0, max_size=4
)


@settings(max_examples=60, deadline=None)
@given(items=TEXTS, width=st.integers(min_value=4, max_value=40), styled=st.booleans())
def test_a_columns_of_texts_is_laid_out_as_rich_lays_it_out(items, width, styled):
    for item in items if styled else []:
        item.stylize("bold", 0, max(1, len(item) // 2))
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system="standard")
    options = console.options.update(width=width)
    mine = columns_lines(console, Columns(items), options)
    assert mine is not None
    assert columns_lines(console, Columns([*items, Text("")]), options) is None  # rich's
    theirs = console.render_lines(Columns(items), options, pad=True)
    assert _ansi(console, mine) == _ansi(console, theirs)


def _ansi(console: Console, lines) -> str:
    return "\n".join(console._render_buffer(line) for line in lines)


def test_gradcli_help_builds_no_command():
    group = typer.main.get_command(app)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert group.main(["--help"], standalone_mode=False) == 0
    assert group.commands == {}
    words = " ".join(out.getvalue().split())
    for name, command in COMMANDS.items():  # each listed with its help's first words
        assert f" {name} {' '.join(command.help.split()[:3])}" in words


LISTED_MODULES = """
import atexit, sys
sys.argv = ["gradcli", "--help"]
atexit.register(lambda: print(sorted(m for m in sys.modules if m.startswith("gradcli.cli.")),
                              file=sys.stderr))
from gradcli.entry import main
main()
"""


@pytest.mark.slow  # a process: the modules one gradcli --help imports
def test_gradcli_help_imports_no_command_module():
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", LISTED_MODULES], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    imported = eval(done.stderr.strip().splitlines()[-1])
    assert "gradcli.cli.app" in imported
    assert [m for m in imported if m.startswith("gradcli.cli.commands.")] == []
