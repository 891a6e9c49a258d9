"""Streams as a shell can leave them: closed stdout or stderr, an encoding without the
characters of the output, a COLUMNS of 0. One clear line where one can be written, a
non-zero status where the data cannot get out, and stdout never carries a message.
(stdout on a full disk: test_process.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.helpers import gradcli_process, jsonl

# every test here starts gradcli in a process of its own (or takes seconds): the full suite only
pytestmark = pytest.mark.slow

RUN = ("optim", "-m", "seed", "--steps", "2")


def _gradcli(args: tuple[str, ...], redirect: str = "", **env: str) -> subprocess.CompletedProcess:
    """gradcli started by a shell, with the shell's ``redirect`` (``>&-``: stdout closed)."""
    command = " ".join([sys.executable, "-m", "gradcli", *args]) + " " + redirect
    environment = {**os.environ, **env}
    return subprocess.run(
        ["/bin/sh", "-c", f"exec {command}"], capture_output=True, env=environment, timeout=120
    )


CLOSED_STDOUT = "gradcli: error: cannot write the output: stdout is closed\n"
NO_ENCODING = (
    "gradcli: error: cannot write the output: stdout's encoding ascii has no '\\xb7'; "
    "set PYTHONIOENCODING=utf-8\n"
)


@pytest.mark.parametrize(
    ("args", "redirect", "env", "status", "said"),
    [
        ((*RUN, "-f", "jsonl"), ">&-", {}, 74, CLOSED_STDOUT),
        (("--help",), ">&-", {}, 74, CLOSED_STDOUT),
        ((*RUN, "-f", "table"), "", {"PYTHONIOENCODING": "ascii"}, 74, NO_ENCODING),
    ],
    ids=["stdout-closed", "help-stdout-closed", "ascii-table"],
)
def test_data_that_cannot_get_out_is_one_line_and_exit_74(args, redirect, env, status, said):
    done = _gradcli(args, redirect, **env)
    assert done.returncode == status
    assert done.stderr.decode() == said


def test_a_closed_stderr_keeps_messages_out_of_stdout():
    bad = _gradcli((*RUN, "--lr", "abc"), "2>&-")
    assert bad.returncode == 2
    assert bad.stdout == b""  # the error line is lost, not moved into the data
    good = _gradcli((*RUN, "-f", "jsonl"), "2>&-")
    assert good.returncode == 0
    assert [r["step"] for r in jsonl(good.stdout.decode())] == [0, 1, 2]


@pytest.mark.parametrize("columns", ["0", "-3", "wide"])
def test_a_columns_that_is_no_width_is_ignored(columns):
    odd = _gradcli((*RUN, "-f", "table"), COLUMNS=columns)
    unset = _gradcli((*RUN, "-f", "table"), COLUMNS="")
    assert odd.returncode == 0, odd.stderr
    assert odd.stdout == unset.stdout != b""
    assert odd.stderr == unset.stderr


def test_a_closed_pipe_keeps_the_steps_done_in_the_checkpoint(invoke, tmp_path):
    """`gradcli ... --save a.pt | head -1`: exit 141, and a.pt holds exactly the steps done,
    as a run of that many steps would have saved them."""
    closed = tmp_path / "closed.pt"
    args = ("optim", "-m", "linear", "-f", "jsonl")
    proc = gradcli_process(
        *args,
        "--steps",
        "100000000",
        "--save",
        str(closed),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141
    saved = torch.load(closed, weights_only=True)
    assert err.decode() == f"gradcli: saving checkpoint {closed} (after step {saved['step']})\n"
    whole = tmp_path / "whole.pt"
    done = invoke(*args, "--steps", str(saved["step"]), "--save", str(whole), "-q")
    assert done.exit_code == 0, done.stderr
    reference = torch.load(whole, weights_only=True)
    for name, value in reference["model"].items():
        assert torch.equal(saved["model"][name], value), name
