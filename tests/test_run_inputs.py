"""`gradcli plot` and `gradcli diff` read back JSON lines from anywhere a user can point them,
and no input ends in a traceback (issue 27): numbers no float holds, steps out of order,
values of the wrong shape, an endless line, a closed stdin, a name too long for the system,
pipes, FIFOs, /dev/stdin, process substitution, what exists but cannot be read."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from typer.testing import CliRunner

from gradcli import bounded_lines
from gradcli.cli import app

RUNNER = CliRunner()


def run(*args: str, stdin: str | None = None):
    return RUNNER.invoke(app, list(args), input=stdin, env={"COLUMNS": "80"})


@pytest.fixture(scope="module")
def lines() -> list[str]:
    """Real records: `gradcli optim -m rosenbrock --steps 4 -f jsonl`, one per line."""
    result = run("optim", "-m", "rosenbrock", "--steps", "4", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def compare_lines() -> list[str]:
    result = run("compare", "-m", "rosenbrock", "-o", "sgd,adam", "--steps", "2", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def edited(line: str, change) -> str:
    record = json.loads(line)
    change(record)
    return json.dumps(record)


def one_error(result, says: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr that says ``says``."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("gradcli: error: ") and result.stderr.count("\n") == 1
    assert says in result.stderr, result.stderr


def both_commands(path, good, says: str) -> None:
    """The bad file refused alike by plot and by diff (as A and as B)."""
    one_error(run("plot", str(path)), says)
    one_error(run("diff", str(path), str(good)), says)
    one_error(run("diff", str(good), str(path)), says)


@pytest.fixture
def good(tmp_path, lines):
    path = tmp_path / "good.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _set(path, value):
    def change(record):
        *keys, last = path
        for key in keys:
            record = record[key]
        record[last] = value

    return change


NUMBERS = [
    # a 5,000-digit loss: json's 4,300-digit limit (ValueError) on main
    (1, '"loss":' + "9" * 5000, '"loss" is 999999999999…, 5000 digits, more than a float holds'),
    # 4,000 digits: OverflowError on main
    (1, '"loss":' + "9" * 4000, '"loss" is 999999999999…, 4000 digits, more than a float holds'),
    (1, '"loss":1e400', '"loss" is 1e400, more than a float holds'),
    (2, '"lr":-' + "1" * 320, '"lr" is -11111111111…, 321 digits, more than a float holds'),
    (1, '"step":' + "9" * 400, '"step" is 999999999999…, 400 digits, not an integer in [0, 2**63)'),
    (1, f'"step":{2**63}', '"step" is not an integer in [0, 2**63)'),
]


@pytest.mark.parametrize(("index", "field", "says"), NUMBERS)
def test_a_number_no_float_holds_is_one_line_naming_line_and_field(
    tmp_path, lines, good, index, field, says
):
    key = field.split(":")[0]
    record = json.loads(lines[index])
    del record[key.strip('"')]
    text = json.dumps(record, separators=(",", ":"))
    bad = [*lines]
    bad[index] = "{" + field + "," + text[1:]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(bad) + "\n")
    both_commands(path, good, f"{path}:{index + 1}: not a gradcli record: {says}")


def test_a_parameter_value_no_float_holds_is_named_by_its_field(tmp_path, lines, good):
    path = tmp_path / "bad.jsonl"
    huge = lines[2].replace('"value":[', '"value":[' + "1" * 330 + ",", 1)
    path.write_text("\n".join([lines[0], lines[1], huge]) + "\n")
    both_commands(path, good, f'{path}:3: not a gradcli record: "params.xy.value[0]" is 1111')


def test_a_number_no_float_holds_deep_in_nested_lists_is_one_line(tmp_path):
    """The field's search walks as deep as json reads, and names a short part of it."""
    path = tmp_path / "deep.jsonl"
    path.write_text("[" * 900 + "1e400" + "]" * 900 + "\n")
    one_error(run("plot", str(path)), '"[0][0]')
    assert '…" is 1e400, more than a float holds' in run("plot", str(path)).stderr


@pytest.mark.parametrize(
    ("index", "change", "says"),
    [
        (1, _set(["lr"], [[1]]), '"lr" is not a number or null'),
        (1, _set(["lr"], "abc"), '"lr" is not a number or null'),
        (0, _set(["params", "xy", "value"], [[1], [2]]), "parameter 'xy': 'value' is not a list"),
        (0, _set(["params", "xy", "shape"], [[2]]), "parameter 'xy' has no shape"),
        (
            2,
            _set(["params", "xy", "grad"], {"norm": [[1]], "mean": 1, "min": 1, "max": 1}),
            "parameter 'xy': 'grad' is not a list",
        ),
    ],
)
def test_a_field_of_the_wrong_kind_is_one_line(tmp_path, lines, good, index, change, says):
    bad = [*lines]
    bad[index] = edited(bad[index], change)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(bad) + "\n")
    both_commands(path, good, f"{path}:{index + 1}: not a gradcli record: {says}")


def test_a_field_gradcli_does_not_read_is_left_alone_whatever_it_holds(tmp_path, lines, good):
    """(A training record's "label" is no compare label: [[1]] there is no TypeError.)"""
    path = tmp_path / "extra.jsonl"
    path.write_text("\n".join(edited(line, _set(["label"], [[1]])) for line in lines) + "\n")
    assert run("plot", str(path), "--plot", "loss").exit_code == 0
    result = run("diff", str(good), str(path))
    assert result.exit_code == 1 and "label" in result.stdout, result.stderr


def test_the_largest_floats_are_drawn_and_compared(tmp_path, lines, good):
    """Losses of ±1.7e308 (their span is no float: ValueError on main) and values beyond
    float32's range (OverflowError in diff's ULPs on main) are numbers like any other."""
    extreme = [*lines]
    extreme[1] = edited(lines[1], _set(["loss"], 1.7e308))
    extreme[2] = edited(lines[2], _set(["loss"], -1.7e308))
    extreme[3] = edited(lines[3], _set(["params", "xy", "value"], [1.7e308, -1.7e308]))
    path = tmp_path / "extreme.jsonl"
    path.write_text("\n".join(extreme) + "\n")
    drawn = run("plot", str(path), "--plot", "loss,path", "-q")
    assert drawn.exit_code == 0, drawn.stderr
    assert "1.7e+308 ┤•" in drawn.stdout and "-1.7e+308 ┤" in drawn.stdout
    compared = run("diff", str(good), str(path))
    assert compared.exit_code == 1, compared.stderr
    assert "part at step 1, loss:" in compared.stdout and "float64 ULPs" in compared.stdout


def test_a_compare_records_step_that_is_no_integer_is_one_line(tmp_path, compare_lines):
    """`"step": [[1]]` in compare's records was TypeError in plot --plot lr on main."""
    bad = [edited(compare_lines[0], _set(["step"], [[1]])), *compare_lines[1:]]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(bad) + "\n")
    one_error(run("plot", str(path), "--plot", "loss,lr"), '"step" is not an integer in [0,')
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(compare_lines) + "\n")
    one_error(run("diff", str(good), str(path)), f"{path}:1: not a gradcli record: ")


@pytest.mark.parametrize(
    ("order", "says"),
    [
        ([3, 0, 1, 2, 4], ":2: step 0 after step 3: a run's records come in order"),
        ([0, 2, 1, 3, 4], ":3: step 1 after step 2"),
        ([0, 1, 1, 2], ":3: step 1 after step 1"),
        ([4, 3, 2, 1, 0], ":2: step 3 after step 4"),
    ],
)
def test_steps_out_of_order_are_one_line(tmp_path, lines, good, order, says):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines[i] for i in order) + "\n")
    both_commands(path, good, f"{path}{says}")


def test_a_compare_label_out_of_order_is_named(tmp_path, compare_lines):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(compare_lines[::-1]) + "\n")
    one_error(run("plot", str(path)), ":3: step 1 of 'adam' after step 2: a run's records")


def test_epochs_out_of_order_are_one_line(tmp_path):
    result = run("optim", "--data", "digits", "--steps", "3", "-f", "jsonl")
    records = result.stdout.splitlines()
    epochs = [i for i, line in enumerate(records) if "epoch_end" in line]
    assert len(epochs) >= 2
    records[epochs[0]], records[epochs[1]] = records[epochs[1]], records[epochs[0]]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(records) + "\n")
    one_error(run("plot", str(path)), f":{epochs[1] + 1}: epoch_end 1 after epoch_end 2")


def test_a_line_longer_than_the_bound_is_one_line_saying_the_bound(tmp_path, lines, monkeypatch):
    monkeypatch.setattr(bounded_lines, "MAX_LINE", 2**20)
    long = lines[1].replace('"loss":', '"pad":"' + "x" * 2**20 + '","loss":', 1)
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join([lines[0], long, lines[2]]) + "\n")
    says = "long.jsonl:2: a line longer than 1 MiB, the most a line may hold"
    one_error(run("plot", str(path)), says)
    one_error(run("diff", str(path), str(path)), says)
    one_error(run("plot", stdin="\0" * (2**20 + 5)), "stdin:1: a line longer than 1 MiB")
    # a line of exactly the bound is read
    monkeypatch.setattr(bounded_lines, "MAX_LINE", len(lines[0].encode()))
    assert run("plot", "--plot", "loss", stdin="\n".join(lines) + "\n").exit_code == 2
    monkeypatch.setattr(bounded_lines, "MAX_LINE", max(len(line) for line in lines))
    assert run("plot", "--plot", "loss", stdin="\n".join(lines) + "\n").exit_code == 0


def test_text_that_is_not_utf8_names_its_line_and_byte(tmp_path, lines):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(("\n".join(lines[:2]) + "\n").encode() + b'{"step": "\xe9"}\n')
    one_error(
        run("plot", str(path)),
        "latin1.jsonl:3: not gradcli's JSON lines (-f jsonl): not UTF-8 text (byte 0xe9 at "
        "column 11)",
    )


def test_a_name_too_long_for_the_system_is_the_input_at_fault():
    """A 100,000-character name was exit 74 'cannot write the output' on main."""
    name = "a" * 100_000
    for args in (["plot", name], ["diff", name, name]):
        result = run(*args)
        one_error(result, "… (100000 characters): cannot read it: File name too long")
        assert len(result.stderr) < 300


def test_what_exists_but_cannot_be_read_says_the_systems_reason(tmp_path, good):
    """(A socket: unreadable even to root, as the tests may run.)"""
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        result = run("plot", str(path))
        one_error(result, f"{path}: cannot read it: ")
        assert "no such file" not in result.stderr
        assert result.stderr.strip().endswith(os.strerror(errno.ENXIO))
    finally:
        server.close()
    one_error(run("diff", str(tmp_path), str(good)), f"{tmp_path}: cannot read it: a folder")
    one_error(run("plot", str(tmp_path / "none")), "none: cannot read it: no such file")


def test_plot_reads_a_fifo(tmp_path, lines):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("w") as stream:
            stream.write("\n".join(lines) + "\n")

    writer = threading.Thread(target=write)
    writer.start()
    result = run("plot", str(fifo), "--plot", "loss")
    writer.join()
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].strip() == "• fifo"


SHELL_CASES = {
    "stdin closed": (
        "{gradcli} plot <&-",
        2,
        "gradcli: error: stdin: cannot read it: stdin is closed\n",
    ),
    "stdin closed, diff": (
        "{gradcli} diff - {good} <&-",
        2,
        "gradcli: error: stdin: cannot read it: stdin is closed\n",
    ),
    "/dev/zero": (
        "{gradcli} plot - < /dev/zero",
        2,
        "gradcli: error: stdin:1: a line longer than 64 MiB, the most a line may hold "
        "(gradcli's records are far shorter)\n",
    ),
    "/dev/stdin": ("{gradcli} plot /dev/stdin --plot loss -q < {good}", 0, ""),
    "process substitution": ("{gradcli} plot <(cat {good}) --plot loss -q", 0, ""),
    "a pipe": ("cat {good} | {gradcli} plot - --plot loss -q", 0, ""),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", SHELL_CASES)
def test_what_the_shell_hands_over(case, good):
    """Real processes: a closed stdin was AttributeError on main, /dev/zero grew until
    MemoryError; /dev/stdin, <(...) and a pipe are read as a file is."""
    command, status, stderr = SHELL_CASES[case]
    gradcli = f"{sys.executable} -m gradcli"
    result = subprocess.run(
        ["bash", "-c", command.format(gradcli=gradcli, good=good)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert (result.returncode, result.stderr) == (status, stderr)
    if status == 0:
        assert "loss (log scale)" in result.stdout


def test_forwards_prints_and_warnings_at_the_path_pictures_points_stay_out(tmp_path):
    """The path picture evaluates a user's forward() at hundreds of points no run visited:
    what it prints or warns there (a torch UserWarning) reached the picture's stdout and
    stderr on main."""
    module = tmp_path / "loud.py"
    module.write_text(
        "import torch, warnings\n"
        "from torch import nn\n"
        "class Loud(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.xy = nn.Parameter(torch.tensor([1.5, -0.5]))\n"
        "    def forward(self):\n"
        "        if float(self.xy.detach()[0]) > 1.5:  # only where the picture probes\n"
        "            print('far out')\n"
        "            torch.tensor(torch.zeros(1))  # torch's own UserWarning\n"
        "        return (self.xy ** 2).sum()\n"
        "def build():\n"
        "    return Loud()\n"
    )
    for fmt in ("table", "jsonl"):
        result = run("optim", "-m", f"{module}:build", "--steps", "3", "--plot", "path", "-f", fmt)
        assert result.exit_code == 0, result.stderr
        assert "path on the loss surface" in result.stdout + result.stderr
        assert "far out" not in result.stdout + result.stderr
        assert "Warning" not in result.stdout + result.stderr
