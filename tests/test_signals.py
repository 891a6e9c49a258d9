"""Signals at awkward moments: before the command line runs (imports), while a checkpoint
is written. Each ends with one line and 128 + the signal's number, never a traceback, and
a checkpoint is never cut short. (Signals mid-run: test_process, test_config_checkpoint.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from lanes import fast_cases

import gradcli.train.checkpoint as checkpoint
from tests.helpers import gradcli_process, jsonl


@pytest.mark.parametrize(
    "stop", fast_cases([signal.SIGINT, signal.SIGTERM, signal.SIGHUP]), ids=str
)
def test_a_signal_while_gradcli_imports_is_one_line(stop):
    # what the gradcli command does first, then a signal in the middle of an import
    code = (
        "import os, signal\n"
        "from gradcli.entry import install\n"
        "install()\n"
        f"os.kill(os.getpid(), {int(stop)})\n"
        "import typer\n"
        "print('not reached')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 128 + stop
    assert done.stdout == b""
    said = "interrupted" if stop == signal.SIGINT else f"stopped by {stop.name}"
    assert done.stderr.decode() == f"gradcli: {said}\n"


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=str)
def test_a_signal_while_the_checkpoint_is_written_waits_for_it(invoke, tmp_path, monkeypatch, stop):
    real_save = torch.save

    def save_with_a_signal(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), stop)  # delivered at once, in the middle of the write
        os.kill(os.getpid(), stop)  # and a second one, which would stop a run at once
        real_save(*args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save_with_a_signal)
    target = tmp_path / "ck.pt"
    result = invoke("optim", "-m", "seed", "--steps", "3", "-f", "jsonl", "--save", str(target))
    assert result.exit_code == 128 + stop
    named = "" if stop == signal.SIGINT else f" ({stop.name})"
    assert result.stderr.splitlines() == [
        f"gradcli: saving checkpoint {target}",
        f"gradcli: interrupted: stopped once the checkpoint was written{named}",
    ]
    monkeypatch.undo()
    assert torch.load(target, weights_only=True)["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=str)
def test_a_second_signal_stops_at_once_with_its_status(stop):
    proc = gradcli_process(
        "optim",
        "-m",
        "mlp",
        "--steps",
        "100000000",
        "-f",
        "jsonl",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()  # the run is under way
    proc.send_signal(stop)
    proc.send_signal(stop)
    out = first + proc.stdout.read()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert proc.returncode == 128 + stop
    assert out.endswith(b"\n")  # whole records only
    jsonl(out.decode())
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradcli: "), err


@pytest.mark.slow
def test_a_closed_terminal_ends_the_run_with_its_checkpoint(tmp_path):
    """The terminal closes under a run (SIGHUP, and stdout and stderr gone with it): the
    checkpoint is still written, and the status is 129."""
    import pty

    target = tmp_path / "hup.pt"
    pid, terminal = pty.fork()
    if pid == 0:  # the child: gradcli on the new terminal
        command = ["optim", "-m", "mlp", "--steps", "100000000", "-f", "jsonl"]
        os.execv(sys.executable, [sys.executable, "-m", "gradcli", *command, "--save", str(target)])
    shown = b""
    while shown.count(b"\n") < 3:  # the run is under way
        shown += os.read(terminal, 4096)
    os.close(terminal)  # the terminal goes away: the kernel sends SIGHUP
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 128 + signal.SIGHUP
    assert torch.load(target, weights_only=True)["step"] >= 1


# a model of one's own that sends itself a signal at its {calls}th forward with gradients
LATE_SIGNAL = (
    "import os, torch\n"
    "class P(torch.nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.w = torch.nn.Parameter(torch.ones(2))\n"
    "        self.calls = 0\n"
    "    def forward(self):\n"
    "        if torch.is_grad_enabled():\n"
    "            self.calls += 1\n"
    "            if self.calls == {calls}:\n"
    "                os.kill(os.getpid(), {signum})\n"
    "        return (self.w ** 2).sum()\n"
    "def build():\n"
    "    return P()\n"
)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_last_step_is_not_success(invoke, tmp_path, signum, status):
    """The run stops as for a signal at any other step: the checkpoint written, the
    signal's exit status, no summary as if it had finished."""
    (tmp_path / "late.py").write_text(LATE_SIGNAL.format(calls=3, signum=int(signum)))
    ck = tmp_path / "ck.pt"
    result = invoke(
        "optim", "-m", f"{tmp_path}/late.py:build", "--steps", "3", "--save", str(ck), "-f", "jsonl"
    )
    assert result.exit_code == status
    assert ck.exists()
    assert result.stderr.splitlines()[-1].startswith(
        "gradcli: interrupted: stopped after step 3 of 3"
    )
    assert [json.loads(line)["step"] for line in result.stdout.splitlines()] == [0, 1, 2, 3]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_range_test_ends_it_with_its_status(invoke, tmp_path, signum, status):
    """lr-find stops at the step the signal came: the records so far whole, the step it
    stopped at said, then one last line and 128 + the signal; --lr auto trains nothing."""
    (tmp_path / "late.py").write_text(LATE_SIGNAL.format(calls=5, signum=int(signum)))
    model = f"{tmp_path}/late.py:build"
    result = invoke("lr-find", "-m", model, "--steps", "50", "-f", "jsonl")
    assert result.exit_code == status
    steps = [json.loads(line)["step"] for line in result.stdout.splitlines()]
    assert steps == list(range(len(steps))) and 1 <= len(steps) < 50
    said = result.stderr.splitlines()
    assert f"gradcli: lr-find stopped at step {steps[-1]}: interrupted" in said
    named = "" if signum == signal.SIGINT else f" ({signum.name})"
    assert said[-1] == f"gradcli: interrupted: stopped during the range test{named}"
    assert "Traceback" not in result.stderr

    result = invoke("optim", "-m", model, "--lr", "auto", "--steps", "3", "-f", "jsonl")
    assert result.exit_code == status
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"gradcli: interrupted: stopped during --lr auto's range test{named}"
    )
