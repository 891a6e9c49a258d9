"""Helpers the tests share (fixtures live in conftest.py; helpers are imported from here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch


def jsonl(text: str) -> list[dict]:
    """Every line of ``text`` parsed as one JSON object (fails on any stray line)."""
    return [json.loads(line) for line in text.splitlines()]


def bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bit pattern, so -0.0 != 0.0 and NaN payloads count."""
    return (
        t.detach()
        .contiguous()
        .view({torch.float32: torch.int32, torch.float64: torch.int64}[t.dtype])
    )


def gradcli_process(*args: str, **kwargs) -> subprocess.Popen:
    """gradcli in a real process, stdout buffered as in a pipeline (PYTHONUNBUFFERED unset)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.Popen([sys.executable, "-m", "gradcli", *args], env=env, **kwargs)


def built_commands() -> dict:
    """Every command of the app by name, built (the app imports and builds a command only
    when the command line names it: gradcli/cli/app.py)."""
    import typer

    from gradcli.cli import app

    group = typer.main.get_command(app)
    return {name: group.get_command(None, name) for name in group.list_commands(None)}
