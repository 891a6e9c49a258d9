"""Every `console` example in README.md is a real command with its real output."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def examples() -> list[tuple[str, list[str]]]:
    """(command, expected lines) for each `$ gradcli ...` line of a console block."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), flags=re.S):
        command, expected = None, []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    found.append((command, expected))
                command, expected = line[2:], []
            else:
                expected.append(line.rstrip())
        if command is not None:
            found.append((command, expected))
    return found


def runnable(command: str) -> bool:
    return command.startswith("gradcli ") and "|" not in command


@pytest.mark.parametrize(
    ("command", "expected"), [e for e in examples() if runnable(e[0])], ids=lambda v: str(v)[:60]
)
def test_readme_example(invoke, command, expected):
    command = command.split("  #")[0]
    to_devnull = command.endswith("> /dev/null")
    args = shlex.split(command.removesuffix("> /dev/null"))[1:]
    if "--device" in args and "cuda" in args[args.index("--device") + 1]:
        pytest.skip("shows the CPU-only message")
    if args[0] == "ddp":  # worker processes write to the real stdout: run it for real
        done = subprocess.run(
            [sys.executable, "-m", "gradcli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "100"},
            timeout=180,
        )
        stdout, stderr = done.stdout, done.stderr
    else:
        result = invoke(*args)
        stdout, stderr = result.stdout, result.stderr
    shown = ([] if to_devnull else stdout.splitlines()) + stderr.splitlines()

    shown = [line.rstrip() for line in shown]
    while shown and not shown[-1]:
        shown.pop()
    while expected and not expected[-1]:
        expected = expected[:-1]
    if expected and expected[-1] == "…":  # the README shows the start of the output
        expected = expected[:-1]
        shown = shown[: len(expected)]
    assert shown == expected


def test_the_readme_has_examples_for_every_command():
    commands = {shlex.split(c)[1] for c, _ in examples() if c.startswith("gradcli ")}
    assert {"optim", "manual", "compare", "params", "graph", "pitfalls"} <= commands
