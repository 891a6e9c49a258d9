"""The shape of the command line: one module per command, one --format definition whose shell
completion offers exactly the formats the command accepts, one row-listing sink, and
ddp's own options checked without torch."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.ddp.options import MAX_TIMEOUT, DdpOptions, ddp_options
from gradcli.errors import GradcliError
from gradcli.output import Output
from gradcli.render import show_rows
from tests.helpers import built_commands

COMMANDS = {
    "optim": "train",
    "manual": "train",
    "compare": "compare",
    "lr-find": "lr_find",
    "optimizers": "optimizers",
    "schedule": "schedule",
    "plot": "plot",
    "report": "report",
    "diff": "diff",
    "params": "params",
    "graph": "graph",
    "pitfalls": "pitfalls",
    "ddp": "ddp",
    "step": "step",
}


def test_each_command_lives_in_its_own_module():
    built = built_commands()
    assert sorted(built) == sorted(COMMANDS)
    for name, module in COMMANDS.items():
        callback = built[name].callback
        assert callback.__module__ == f"gradcli.cli.commands.{module}", name


def _completed(words: str) -> list[str]:
    cword = str(len(words.split()) - (not words.endswith(" ")))
    env = {"_GRADCLI_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
    return CliRunner().invoke(app, [], env=env).stdout.split()


@pytest.mark.parametrize(
    ("command", "formats"),
    [
        ("optim", ["auto", "table", "jsonl", "csv", "tsv"]),
        ("compare", ["auto", "table", "jsonl", "csv", "tsv"]),
        ("lr-find", ["auto", "number", "plot", "jsonl", "csv", "tsv"]),
        ("optimizers", ["auto", "table", "jsonl", "csv", "tsv"]),
        ("pitfalls", ["auto", "table", "jsonl", "csv", "tsv"]),
        ("graph", ["auto", "table", "jsonl", "csv", "tsv", "dot"]),
        ("diff", ["text", "jsonl"]),
        ("ddp", ["auto", "table", "jsonl"]),
    ],
)
def test_format_completion_offers_what_the_command_accepts(command, formats):
    """Completion, help and the check of --format come from one definition per command."""
    assert _completed(f"gradcli {command} --format ") == formats
    args = [command, *(["a.jsonl", "b.jsonl"] if command == "diff" else []), "-f", "xml"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"gradcli: error: --format: unknown format 'xml'; choose one of: {', '.join(formats)}\n"
    )


def _rows(output: Output, **given) -> str:
    out = io.StringIO()
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(sys, "stdout", out)
    try:
        show_rows(output, **given)
    finally:
        monkeypatch.undo()
    return out.getvalue()


def test_show_rows_picks_one_writer_per_format():
    rows = [{"name": "a", "shape": [2, 3], "lr": 0.1}, {"name": "b", "shape": None, "lr": 1.0}]
    drawn = []
    given = {"table": drawn.append, "rows": lambda fmt: rows}
    assert _rows(Output("csv"), **given) == "name,shape,lr\na,2x3,0.1\nb,,1.0\n"
    assert _rows(Output("tsv"), **given, header=["lr", "name"]) == "lr\tname\n0.1\ta\n1.0\tb\n"
    assert [json.loads(line) for line in _rows(Output("jsonl"), **given).splitlines()] == rows
    assert _rows(Output("dot"), **given, own={"dot": lambda: "digraph {}\n"}) == "digraph {}\n"
    assert drawn == []
    _rows(Output("table", color=False), **given)
    assert len(drawn) == 1  # handed a console on stdout
    # the rows are asked for with the format: jsonl keeps structure, csv flattens it
    asked = []
    _rows(Output("jsonl"), table=drawn.append, rows=lambda fmt: asked.append(fmt) or [])
    assert asked == ["jsonl"]


def test_ddp_options_are_checked_in_one_place():
    assert ddp_options(4, "ddp", 30.0) == DdpOptions(4, "ddp", 30.0)
    assert ddp_options(64, "manual", MAX_TIMEOUT) == DdpOptions(64, "manual", MAX_TIMEOUT)
    bad = [
        ((2, "horovod", 60.0), "--path: unknown path 'horovod'; choose one of: manual, ddp"),
        ((0, "manual", 60.0), "--nproc must be an integer in [1, 64], got 0"),
        ((65, "manual", 60.0), "--nproc must be an integer in [1, 64], got 65"),
        ((2, "manual", 0.0), f"--timeout must be a number of seconds in (0, {MAX_TIMEOUT}]"),
        ((2, "manual", math.nan), f"--timeout must be a number of seconds in (0, {MAX_TIMEOUT}]"),
        ((2, "manual", math.inf), f"--timeout must be a number of seconds in (0, {MAX_TIMEOUT}]"),
    ]
    for args, message in bad:
        with pytest.raises(GradcliError) as caught:
            ddp_options(*args)
        assert str(caught.value).startswith(message), args


IMPORTS_WITHOUT_TORCH = """
import json, sys
import gradcli.cli.app, gradcli.cli.failures, gradcli.cli.options, gradcli.ddp.options
from gradcli.cli.commands import (
    compare, ddp, diff, graph, optimizers, params, pitfalls, plot, schedule, train,
)
print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))))
"""


@pytest.mark.slow  # a process
def test_the_command_modules_and_ddp_options_do_not_import_torch():
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_WITHOUT_TORCH], capture_output=True, text=True, check=True
    )
    assert done.stderr == ""
    assert json.loads(done.stdout) == []


def test_the_hyperparameters_are_listed_in_a_few_lines_and_still_complete():
    """One option per keyword of torch's optimizers: listed as typed in one panel (their
    meanings are gradcli optimizers NAME's), parsed and completed as every option is."""
    from gradcli.optimizers import options

    shown = CliRunner().invoke(app, ["optim", "--help"], env={"COLUMNS": "80"}).stdout
    panel = shown[shown.index("─ Optimizer hyperparameters ─") :]
    panel = panel[: panel.index("╰")]
    assert "gradcli optimizers NAME" in " ".join(panel.replace("│", " ").split())
    for name in options():
        assert f"--{name.replace('_', '-')}" in panel, name
    assert "--betas=B1,B2" in panel and "--nesterov/--no-nesterov" in panel
    assert len(panel.splitlines()) < 25  # (as rows: 213 lines)
    assert {"--momentum", "--momentum-decay"} <= set(_completed("gradcli optim --mom"))
