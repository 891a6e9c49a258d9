"""Machine formats and stream hygiene, in-process: every line of every format parses."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from helpers import jsonl
from lanes import fast_cases

from gradcli.output import Output
from gradcli.render.delimited import COMPARE_HEADER, HEADER

ANSI_OR_BOX = re.compile(r"\x1b|[─━│┃┏┓┗┛┡┩╇╈┼]")

COMMANDS = {
    "optim": ["optim", "-m", "mlp", "--steps", "5", "--every", "2"],
    "manual": ["manual", "-m", "linear", "-o", "adam", "--steps", "3", "--state"],
    "compare": ["compare", "-o", "sgd,adagrad", "--steps", "3"],
    "params": ["params", "--model", "mlp"],
    "graph": ["graph"],
    "pitfalls": ["pitfalls", "no-zero-grad"],
}
HEADERS = {
    "params": None,  # checked below: the keys of the JSON rows
    "graph": ["id", "node", "parameter", "shape", "inputs"],
    "pitfalls": ["pitfall", "step", "quantity", "mistake", "correct"],
}


def strict_json(line: str) -> dict:
    def no_constants(name):
        raise AssertionError(f"bare {name} in JSON")

    return json.loads(line, parse_constant=no_constants)


def parse(fmt: str, text: str) -> list:
    if fmt == "jsonl":
        return [strict_json(line) for line in text.splitlines()]
    rows = list(csv.reader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t"))
    assert all(len(row) == len(rows[0]) for row in rows)
    return rows


@pytest.mark.parametrize("fmt", fast_cases(["jsonl", "csv", "tsv"], 2))
@pytest.mark.parametrize("command", fast_cases(list(COMMANDS)))
def test_every_line_of_every_format_parses(invoke, command, fmt):
    result = invoke(*COMMANDS[command], "-f", fmt)
    assert result.exit_code == 0, result.stderr
    assert not ANSI_OR_BOX.search(result.stdout)
    parsed = parse(fmt, result.stdout)
    if fmt == "jsonl":
        assert parsed and (command in HEADERS or all("step" in record for record in parsed))
        return
    header, rows = parsed[0], parsed[1:]
    assert rows
    if command in HEADERS:
        as_json = [
            strict_json(line)
            for line in invoke(*COMMANDS[command], "-f", "jsonl").stdout.splitlines()
        ]
        assert header == (HEADERS[command] or list(as_json[0]))
        assert len(rows) == len(as_json)
        return
    assert header == (COMPARE_HEADER if command == "compare" else HEADER)

    for row in rows:
        cells = dict(zip(header, row, strict=True))
        int(cells["step"])
        for name, value in cells.items():
            if name.endswith(("loss", "_norm", "_mean", "_min", "_max", "diff")) and value:
                float(value)
            if name in ("value", "grad", "update") and value:
                [float(x) for x in value.split(";")]
            assert " " not in value  # (-f tsv | column -t lines up)


def test_csv_has_one_row_per_step_and_parameter(invoke):
    result = invoke("optim", "-m", "mlp", "--steps", "4", "--every", "2", "-f", "csv")
    rows = parse("csv", result.stdout)[1:]
    assert [(r[0], r[2]) for r in rows] == [
        (str(step), name)
        for step in (0, 2, 4)
        for name in (
            "net.0.weight",
            "net.0.bias",
            "net.2.weight",
            "net.2.bias",
            "net.4.weight",
            "net.4.bias",
        )
    ]
    first = dict(zip(HEADER, rows[0], strict=True))
    assert first["loss"] == "" and first["grad"] == "" and first["shape"] == "16x2"


def test_csv_carries_the_same_numbers_as_jsonl(invoke):
    args = ["manual", "-m", "seed", "--steps", "2"]
    records = jsonl(invoke(*args, "-f", "jsonl").stdout)
    rows = parse("csv", invoke(*args, "-f", "csv").stdout)[1:]
    for record, row in zip(records, rows, strict=True):
        cells = dict(zip(HEADER, row, strict=True))
        p = record["params"]["w"]
        assert [float(x) for x in cells["value"].split(";")] == p["value"]
        if record["step"]:
            assert float(cells["loss"]) == record["loss"]
            assert [float(x) for x in cells["grad"].split(";")] == p["grad"]
            assert [float(x) for x in cells["update"].split(";")] == p["update"]
            assert float(cells["grad_mean"]) == pytest.approx(sum(p["grad"]) / 3, rel=1e-15)


@pytest.mark.parametrize("fmt", fast_cases(["jsonl", "csv", "tsv"]))
def test_machine_output_ignores_the_terminal_width(invoke, fmt):
    args = ["optim", "-m", "mlp", "--steps", "3", "-f", fmt]
    narrow = invoke(*args, COLUMNS="40")
    wide = invoke(*args, COLUMNS="200")
    assert narrow.stdout == wide.stdout


@pytest.mark.parametrize("fmt", fast_cases(["jsonl", "csv", "tsv", "table"], {"jsonl", "table"}))
@pytest.mark.parametrize("command", fast_cases(list(COMMANDS)))
def test_quiet_leaves_stderr_empty(invoke, command, fmt):
    result = invoke(*COMMANDS[command], "-f", fmt, "-q")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout


def test_without_quiet_the_summary_goes_to_stderr(invoke):
    result = invoke("optim", "-m", "seed", "--steps", "1", "-f", "csv")
    assert result.stderr == "gradcli: 1 step, loss 2 -> 1.99967\n"


def test_divergence_stops_prints_the_step_and_exits_3(invoke):
    result = invoke("optim", "-m", "rosenbrock", "--lr", "10", "-f", "jsonl")
    assert result.exit_code == 3
    records = [strict_json(line) for line in result.stdout.splitlines()]
    last = records[-1]
    assert last["step"] == len(records) - 1  # every step printed up to the bad one
    assert last["loss"] in ("Infinity", "NaN") or last["params"]["xy"]["grad"][0] in (
        "Infinity",
        "-Infinity",
        "NaN",
    )
    assert result.stderr == (
        f"gradcli: diverged: step {last['step']}: the loss is inf and the gradient of xy is not "
        "finite; try a smaller --lr (this run used 10)\n"
    )


def test_divergence_is_shown_even_when_the_step_would_be_skipped(invoke):
    result = invoke("manual", "-m", "rosenbrock", "--lr", "10", "--every", "1000", "-f", "jsonl")
    assert result.exit_code == 3
    steps = [r["step"] for r in jsonl(result.stdout)]
    assert steps[0] == 0 and len(steps) == 2 and steps[1] < 1000


def test_nonfinite_numbers_are_spelled_out_in_every_format(invoke):
    args = ["optim", "-m", "rosenbrock", "--lr", "10", "-q"]
    assert '"Infinity"' in invoke(*args, "-f", "jsonl").stdout
    rows = parse("csv", invoke(*args, "-f", "csv").stdout)
    assert rows[-1][HEADER.index("loss")] == "inf"


@pytest.mark.parametrize("fmt", fast_cases(["csv", "tsv", "jsonl"]))
def test_same_arguments_give_byte_identical_output(invoke, fmt):
    args = ["compare", "-o", "adam,rmsprop", "-m", "mlp", "--steps", "10", "-f", fmt]
    assert invoke(*args).stdout == invoke(*args).stdout


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


STYLED = "[bold]bold[/] [red]red[/]"


@pytest.mark.parametrize(
    ("color", "env", "styled"),
    [
        (None, {}, True),
        (None, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": "1"}, True),
        (False, {}, False),
        (None, {"TERM": "dumb"}, False),
    ],
)
def test_styling_follows_color_flags_no_color_and_term(monkeypatch, color, env, styled):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stream = FakeTerminal()
    Output(color=color).console(stream).print(STYLED)
    text = stream.getvalue()
    assert ("\x1b[" in text) == styled
    if not styled:
        assert text == "bold red\n"


@pytest.mark.slow
def test_no_color_removes_bold_from_the_table(invoke):
    plain = invoke("optim", "-m", "seed", "--steps", "1", "-f", "table", "--no-color")
    forced = invoke("optim", "-m", "seed", "--steps", "1", "-f", "table", "--color")
    assert "\x1b[" not in plain.stdout
    assert "\x1b[1m" in forced.stdout  # bold
    assert re.sub(r"\x1b\[[0-9;]*m", "", forced.stdout) == plain.stdout
    nocolor = invoke("optim", "-m", "seed", "--steps", "1", "-f", "table", "--color", NO_COLOR="1")
    assert "\x1b[1m" in nocolor.stdout  # the flag beats the environment


@pytest.mark.parametrize(
    "command", fast_cases([*COMMANDS, "optimizers", "pitfalls-list", "optimizer-page"])
)
def test_tables_written_to_a_file_have_no_trailing_spaces(invoke, command):
    """rich pads every line of a table to the table's width; in a file that is noise."""
    args = {"pitfalls-list": ["pitfalls"], "optimizer-page": ["optimizers", "adam"]}.get(
        command, COMMANDS.get(command, [command])
    )
    result = invoke(*args, "-f", "table")
    assert result.exit_code == 0
    assert result.stdout.count("\n") > 3
    assert [line for line in result.stdout.splitlines() if line != line.rstrip()] == []


def test_table_summary_is_data_on_stdout_and_quiet_does_not_change_it(invoke):
    """A table's summary is part of the table a person asked for (stdout), as README says;
    -q only silences stderr."""
    args = ["optim", "-m", "seed", "--steps", "2", "-f", "table"]
    loud, quiet = invoke(*args), invoke(*args, "-q")
    assert "summary" in loud.stdout and "loss at end" in loud.stdout
    assert loud.stdout == quiet.stdout
    assert loud.stderr == quiet.stderr == ""
