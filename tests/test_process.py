"""What needs a real process: import cost of --help, and `python -m gradcli`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from helpers import gradcli_process

from gradcli import schedules
from gradcli.spec import PITFALL_SUMMARIES

HELP_WITHOUT_TORCH = """
import sys
from typer.testing import CliRunner

from gradcli.cli import app
for args in (["--help"], ["-h"], ["optim", "--help"], ["manual", "-h"], ["pitfalls", "-h"],
             ["step", "--help"], []):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
    assert "Usage" in result.stdout
for words, expected in COMPLETIONS:
    env = {"_GRADCLI_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (not words.endswith(" ")))}
    result = CliRunner().invoke(app, [], env=env)
    assert result.stdout.split() == expected, (words, result.output)
heavy = ("torch", "matplotlib", "textual")  # matplotlib: only when a figure is written;
# textual: only when gradcli step runs
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""
COMPLETIONS = [
    ("gradcli optim -o ada", ["adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw"]),
    (
        "gradcli compare -o a",
        ["all", "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "asgd"],
    ),
    ("gradcli manual --model m", ["mlp"]),
    ("gradcli optim --format ", ["auto", "table", "jsonl", "csv", "tsv"]),
    ("gradcli graph -f d", ["dot"]),
    ("gradcli pitfalls ", list(PITFALL_SUMMARIES)),  # every pitfall, in its order
    ("gradcli ddp --path ", ["manual", "ddp"]),
    ("gradcli step -o rms", ["rmsprop"]),
    ("gradcli optim --dtype ", ["float32", "float64"]),
    ("gradcli schedule ", schedules.names()),  # every scheduler, by torch's name
    ("gradcli schedule St", ["StepLR"]),
    ("gradcli optim --schedule Cos", ["CosineAnnealingLR", "CosineAnnealingWarmRestarts"]),
    ("gradcli compare --schedule One", ["OneCycleLR"]),
]


@pytest.mark.slow
def test_help_and_completion_do_not_import_torch():
    """--help, and shell completion of values (-o <TAB>, --model <TAB>, pitfalls <TAB>),
    import neither torch nor matplotlib nor textual (gradcli step's, only when it runs)."""
    out = subprocess.run(
        [sys.executable, "-c", f"import json\nCOMPLETIONS = {COMPLETIONS!r}\n{HELP_WITHOUT_TORCH}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.splitlines()[-1]) == []


LIST_WITHOUT_TORCH = """
import json, sys
from typer.testing import CliRunner

from gradcli.cli import app
for args in (["pitfalls"], ["pitfalls", "-f", "table"], ["pitfalls", "-f", "csv"]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
    assert "data-zero" in result.stdout
print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))))
"""


def test_the_pitfall_list_does_not_import_torch():
    """`gradcli pitfalls` lists names and sentences: it answers at once, as --help does."""
    out = subprocess.run(
        [sys.executable, "-c", LIST_WITHOUT_TORCH], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.splitlines()[-1]) == []


@pytest.mark.slow
def test_python_dash_m_runs_a_training_command():
    out = subprocess.run(
        [sys.executable, "-m", "gradcli", "optim", "--model", "seed", "--steps", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [json.loads(line)["step"] for line in out.stdout.splitlines()] == [0, 1, 2]
    assert out.stderr == "gradcli: 2 steps, loss 2 -> 1.99933\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["optim", "-f", "jsonl"],
        ["manual", "-f", "csv"],
        ["optim", "-f", "tsv"],
        ["optim", "-f", "table"],
        ["compare", "-o", "sgd", "-f", "jsonl"],
    ],
    ids=lambda a: " ".join(a),
)
def test_head_gets_one_line_and_the_run_ends_quietly(args):
    """`gradcli ... | head -1`: one valid line, exit 141, nothing on stderr."""
    proc = gradcli_process(
        *args, "--steps", "100000", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    first = proc.stdout.readline()
    proc.stdout.close()  # what head does after its line
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141
    assert err == b""
    assert first.endswith(b"\n")
    if "jsonl" in args:
        json.loads(first)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_reader_gone_before_the_first_write(fmt):
    """Even output that is only flushed at interpreter exit ends the same way."""
    read, write = os.pipe()
    os.close(read)
    proc = gradcli_process(
        "optim", "-m", "seed", "--steps", "2", "-f", fmt, stdout=write, stderr=subprocess.PIPE
    )
    os.close(write)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141
    assert err == b""


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_ctrl_c_stops_after_the_current_step(fmt):
    proc = gradcli_process(
        "optim",
        "-m",
        "mlp",
        "--steps",
        "100000000",
        "-f",
        fmt,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines = [proc.stdout.readline() for _ in range(3)]  # the run is under way
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()  # (communicate() would skip what readline() buffered)
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130
    out = b"".join(lines) + rest
    assert out.endswith(b"\n")  # no half line
    text = out.decode()
    if fmt == "jsonl":
        records = [json.loads(line) for line in text.splitlines()]
        last = records[-1]["step"]
    else:
        rows = text.splitlines()[1:]
        last = int(rows[-1].split(",")[0])
        assert len(rows) == 6 * (last + 1)  # whole steps: six parameters each
    assert err.decode() == f"gradcli: interrupted: stopped after step {last} of 100000000\n"


@pytest.mark.slow
def test_progress_bar_on_a_terminal_stderr_only():
    """stdout to a pipe, stderr to a terminal: a progress bar there, and none in the data."""
    import pty

    leader, follower = pty.openpty()
    proc = gradcli_process(
        "optim",
        "-m",
        "mlp",
        "--steps",
        "10000",
        "-f",
        "jsonl",
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []

    def read_terminal() -> None:  # drain the terminal as a real one would, or the bar blocks
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(leader)
    screen = b"".join(chunks)

    assert proc.returncode == 0
    assert b"gradcli optim" in screen and b"/10000" in screen  # the bar: description, M/N
    assert b"gradcli: 10000 steps, loss" in screen
    assert b"\x1b" not in out and len(out.splitlines()) == 10001


@pytest.mark.slow
def test_ctrl_c_stops_compare_after_the_current_step():
    """compare keeps the contract of optim: whole steps out, one line, exit 130."""
    proc = gradcli_process(
        "compare",
        "-m",
        "seed",
        "-o",
        "sgd,adam",
        "--steps",
        "100000000",
        "-f",
        "jsonl",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines = [proc.stdout.readline() for _ in range(5)]  # the run is under way
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130
    records = [json.loads(line) for line in (b"".join(lines) + rest).decode().splitlines()]
    last = records[-1]["step"]
    assert [r["optimizer"] for r in records[-2:]] == ["sgd", "adam"]  # both runs did it
    assert err.decode() == f"gradcli: interrupted: stopped after step {last} of 100000000\n"


def _screen(data: bytes) -> list[str]:
    """What a terminal shows after ``data``: enough of one (carriage return, line feed,
    cursor up, erase line) to see where rich's bar and the tables end up."""
    import re

    lines: list[list[str]] = [[]]
    row = col = 0
    for match in re.finditer(r"\x1b\[([?0-9;]*)([A-Za-z])|\r|\n|[^\x1b\r\n]", data.decode()):
        token = match.group(0)
        if token == "\r":
            col = 0
        elif token == "\n":
            row += 1
            lines.extend([] for _ in range(row + 1 - len(lines)))
        elif match.group(2) == "A":
            row = max(0, row - int(match.group(1) or 1))
        elif match.group(2) == "K":
            del lines[row][0 if match.group(1) == "2" else col :]
        elif match.group(2) is None:
            line = lines[row]
            line.extend(" " for _ in range(col + 1 - len(line)))
            line[col] = token
            col += 1
    return ["".join(line).rstrip() for line in lines]


@pytest.mark.slow
def test_progress_bar_steps_aside_for_tables_on_the_same_terminal():
    """stdout and stderr one terminal, --every: each table starts on a line of its own (not
    after the bar), and no bar is left on the screen at the end."""
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "NO_COLOR")}
    args = ["optim", "-m", "mlp", "--steps", "10000", "--every", "2000", "--no-color"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", *args],
        stdout=follower,
        stderr=follower,
        env={**env, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(follower)
    chunks: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    proc.wait(timeout=120)
    reader.join(timeout=10)
    os.close(leader)
    raw = b"".join(chunks)
    screen = _screen(raw)

    assert proc.returncode == 0
    assert b"/10000" in raw and "\u2501".encode() in raw  # the bar was drawn
    titles = [line for line in screen if "step " in line and "/10000" in line]
    expected = [["step", f"{n}/10000"] for n in range(0, 10001, 2000)]
    assert [t.split()[:2] for t in titles] == expected
    assert not any("\u2501" in line or "-:--:--" in line for line in screen), screen
    assert screen[0].startswith("gradcli optim · model mlp")
    assert "summary" in screen


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args", [["optim", "-f", "jsonl"], ["optim", "-f", "table"], ["compare", "-f", "csv"]]
)
def test_a_full_disk_is_one_line_and_exit_74(args):
    with open("/dev/full", "w") as full:
        proc = gradcli_process(
            *args, "-m", "seed", "--steps", "3", stdout=full, stderr=subprocess.PIPE
        )
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 74
    assert err.decode() == "gradcli: error: cannot write the output: No space left on device\n"


@pytest.mark.slow
def test_a_reader_that_stops_early_never_gets_a_bar_under_its_lines():
    """``gradcli optim --steps 100000 | head -3`` on a terminal: head's lines and gradcli's
    stderr share the screen; the bar is drawn only once a run has lasted a moment, so none
    is there for head's lines to land on, and none is left when gradcli exits (141)."""
    import pty

    leader, follower = pty.openpty()
    proc = gradcli_process(
        "optim", "--steps", "100000", "-f", "jsonl", stdout=subprocess.PIPE, stderr=follower
    )
    os.close(follower)
    chunks: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    lines = [proc.stdout.readline() for _ in range(3)]  # head -3
    proc.stdout.close()
    proc.wait(timeout=60)
    reader.join(timeout=10)
    os.close(leader)
    assert [json.loads(line)["step"] for line in lines] == [0, 1, 2]
    assert proc.returncode == 141
    assert "\u2501".encode() not in b"".join(chunks)
