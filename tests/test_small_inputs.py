"""Smaller inputs that crashed: config files that nest too deeply or never end, a ddp
timeout that is no timedelta, names that look like rich markup or end a DOT string, --help
into a closed pipe, float32 gradients whose norm overflows."""

from __future__ import annotations

import os
import subprocess

import pytest
from lanes import fast_cases

from tests.helpers import gradcli_process, jsonl


def _one_error_line(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gradcli: error: ") and fragment in lines[0], lines[0]


def _deep(tmp_path) -> str:
    path = tmp_path / "deep.toml"
    path.write_text("steps = " + "[" * 100_000 + "]" * 100_000 + "\n")
    return str(path)


def _fifo(tmp_path) -> str:
    path = tmp_path / "fifo.toml"
    os.mkfifo(path)
    return str(path)


def _huge(tmp_path) -> str:
    path = tmp_path / "huge.toml"
    path.write_text("# " + "x" * (2 << 20) + "\n")
    return str(path)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_deep, "not a config: its values nest too deeply"),
        (lambda tmp_path: "/dev/zero", "--config /dev/zero: not a regular file"),
        (_fifo, "not a regular file"),
        (_huge, "bytes; not a config file"),
    ],
    ids=["nested", "dev-zero", "fifo", "huge"],
)
def test_config_files_that_are_no_config_are_one_line(invoke, tmp_path, make, fragment):
    _one_error_line(invoke("optim", "--config", make(tmp_path)), fragment)


@pytest.mark.parametrize("timeout", ["inf", "nan", "1e300", "0"])
def test_a_ddp_timeout_that_is_no_duration_is_one_line(invoke, timeout):
    _one_error_line(invoke("ddp", "--timeout", timeout), "--timeout must be a number of seconds")


ODD_NAMES = """\
import torch
from torch import nn

class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_parameter("x[/]", nn.Parameter(torch.ones(2)))
        self.register_parameter('q"[bold]', nn.Parameter(torch.ones(1)))

    def forward(self):
        return sum((p ** 2).sum() for p in self.parameters())

def build():
    return Odd()
"""


@pytest.fixture
def odd_model(tmp_path, monkeypatch) -> str:
    folder = tmp_path / "exp[v2]"
    folder.mkdir()
    (folder / "odd.py").write_text(ODD_NAMES)
    monkeypatch.chdir(tmp_path)
    return "exp[v2]/odd.py:build"


@pytest.mark.parametrize("command", fast_cases(["optim", "compare"]))
def test_names_are_shown_as_they_are_not_as_markup(invoke, odd_model, command):
    result = invoke(command, "-m", odd_model, "--steps", "1", "-f", "table", "-o", "sgd")
    assert result.exit_code == 0, (result.stderr, result.exception)
    if command == "optim":
        assert f"model {odd_model}" in result.stdout
        assert "x[/]" in result.stdout and 'q"[bold]' in result.stdout


def test_dot_labels_quote_the_names(invoke, odd_model):
    result = invoke("graph", "-m", odd_model, "-f", "dot")
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert '\\nq\\"[bold] [1]"' in result.stdout  # the quote escaped, the label closed after


@pytest.mark.slow
def test_help_into_a_closed_pipe_is_exit_141():
    read, write = os.pipe()
    os.close(read)
    proc = gradcli_process("optim", "--help", stdout=write, stderr=subprocess.PIPE)
    os.close(write)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141
    assert err == b""


HUGE_GRADIENT = """\
import torch
from torch import nn

class Steep(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(300))

    def forward(self):
        return (self.w * 1e20).sum()  # every gradient element 1e20: its float32 norm is inf

def build():
    return Steep()
"""


def test_every_holds_where_a_float32_norm_overflows(invoke, tmp_path, monkeypatch):
    (tmp_path / "steep.py").write_text(HUGE_GRADIENT)
    monkeypatch.chdir(tmp_path)
    args = ("-m", "steep.py:build", "--lr", "0", "--steps", "10", "-f", "jsonl")
    result = invoke("optim", *args, "--every", "5")
    assert result.exit_code == 0, result.stderr
    assert [r["step"] for r in jsonl(result.stdout)] == [0, 5, 10]


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("optim", "-o", "Adam(lr=1e39)"), "--lr 1e+39"),
        (("manual", "-o", "Adam(lr=1e39)"), "--lr 1e+39"),
        (("optim", "-o", "sgd", "--lr", "1e39"), "--lr 1e+39"),
        (("compare", "-o", "adam", "--lr", "1e39"), "--lr 1e+39"),
        (("optim", "--clip-value", "1e308"), "--clip-value 1e+308"),
        (("optim", "-o", "SGD(lr=0.1, weight_decay=1e39)"), "--optimizer sgd: weight_decay 1e+39"),
    ],
)
def test_a_number_float32_cannot_hold_is_refused_before_the_run(invoke, args, where):
    """torch would refuse it in the middle of the update (RuntimeError: value cannot be
    converted to type float without overflow): refused before anything is printed, naming
    the option and float32's range."""
    result = invoke(*args, "--steps", "2", "-f", "jsonl")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"gradcli: error: {where} is beyond float32's largest number, 3.403e+38; choose a "
        "smaller one, or --dtype float64\n"
    )
    assert invoke(*args, "--steps", "2", "-f", "jsonl", "--dtype", "float64").exit_code in (0, 3)


@pytest.mark.parametrize("path", ["optim", "manual"])
def test_an_lr_whose_update_overflows_float32_is_one_line(invoke, path):
    """Adam's lr/(1 − β1) for lr 1e38 is beyond float32 although the lr is not: one line
    naming the lr and the way out, exit 2; what was printed before (step 0) stays whole."""
    result = invoke(path, "-o", "Adam(lr=1e38)", "--steps", "2", "-f", "jsonl")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("gradcli: error: the update overflows float32")
    assert "lr 1e+38" in line and "--dtype float64" in line
    assert [r["step"] for r in jsonl(result.stdout)] == [0]


def test_a_schedule_that_grows_the_lr_past_float32_is_divergence(invoke):
    result = invoke(
        "optim", "--schedule", "ExponentialLR(gamma=1e30)", "--steps", "4", "-f", "jsonl"
    )
    assert result.exit_code == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "gradcli: diverged: step 3: the schedule's lr 1e+59 makes the update overflow float32"
    )
