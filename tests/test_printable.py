"""Text from a user never reaches the terminal raw: a parameter named with a screen-clearing
escape, in every command that takes a model and every format it writes."""

from __future__ import annotations

import json
import unicodedata

import pytest
import typer
from hypothesis import example, given
from hypothesis import strategies as st

from gradcli.printable import printable
from tests.helpers import built_commands

NAME = "\x1b[2J\x1b[31mred\u202eevil\nline"
MODEL = f"""import torch
class P(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_parameter({NAME!r}, torch.nn.Parameter(torch.ones(2)))
    def forward(self):
        return (getattr(self, {NAME!r}) ** 2).sum()
def build():
    return P()
"""


def commands_with_a_model() -> list[tuple[str, str]]:
    """Every command that takes --model and --format, with each format it offers: a new
    command is tried here without anyone adding it."""
    found = []
    for name, command in built_commands().items():
        params = {p.name: p for p in command.params}
        if name == "ddp" or "model" not in params or "format" not in params:
            continue  # (ddp trains problems with data to shard: not a parameter like this)
        offered = [c.value for c in params["format"].shell_complete(typer.Context(command), "")]
        for fmt in ("table", "plot", "jsonl", "csv", "tsv"):  # (lr-find's picture: plot)
            if fmt in offered:
                found.append((name, fmt))
    return found


@pytest.mark.parametrize(("command", "fmt"), commands_with_a_model())
def test_no_raw_control_character_from_a_name_reaches_the_output(
    invoke, tmp_path, monkeypatch, command, fmt
):
    (tmp_path / "esc.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    params = {p.name for p in built_commands()[command].params}
    extra = ["--steps", "2"] if "steps" in params else []
    extra += ["-o", "sgd"] if command == "compare" else []
    result = invoke(command, "-m", "esc.py:build", "-f", fmt, *extra)
    assert result.exit_code == 0, result.stderr
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream and "\u202e" not in stream
    if command in ("optim", "manual", "params") and fmt != "jsonl":
        assert printable(NAME) in result.stdout  # shown, as escapes


@given(st.text())
def test_printable_leaves_only_printable_characters_and_keeps_the_rest(text):
    shown = printable(text)
    assert all(c.isprintable() or unicodedata.category(c) == "Zs" for c in shown)
    if text.isprintable():
        assert shown == text


@given(st.text())
@example("\x7f")  # (ASCII, and not printable: JSON keeps it raw)
@example("a\u202eb")
def test_json_lines_read_back_the_same_and_show_nothing_hidden(text):
    from gradcli.render.numbers import dumps

    line = dumps({text: [text]})
    assert json.loads(line) == {text: [text]}
    assert line.isprintable()
