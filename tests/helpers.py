"""Helpers the tests share (fixtures live in conftest.py; helpers are imported from here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch
from hypothesis import HealthCheck, Phase, settings


def unshrunk(examples: int) -> settings:
    """Hypothesis settings for a test whose every example runs scripts or processes (seconds
    each): ``examples`` of them, no shrinking, no deadline, no health checks."""
    return settings(
        max_examples=examples,
        deadline=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )


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


FLAKY_ON_DATA = """
import pathlib, torch
MARK = pathlib.Path(__file__).with_name("fail")
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)
        self.calls = 0
    def forward(self, x):
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls == {calls} and MARK.exists():
                raise ValueError("flaky")
        return self.linear(x.flatten(1))
def build():
    return Net()
"""


def flaky_on_data(calls: int) -> str:
    """A model file for ``--data digits`` whose forward raises at its ``calls``-th call with
    gradients while a file ``fail`` lies beside it (remove the file, and it runs)."""
    return FLAKY_ON_DATA.format(calls=calls)
