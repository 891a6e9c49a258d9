from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from gradcli.cli import app

WIDTH = "100"


@pytest.fixture(autouse=True)
def _one_thread():
    # Keep CPU results reproducible and the suite quick on 2 cores.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _cpu_unless_marked_cuda(request, monkeypatch):
    """The suite describes gradcli on the CPU, what CI has: on a machine with a GPU,
    ``--device auto`` still means the CPU here, in this process and in the processes a test
    starts. Tests marked ``cuda`` see the GPU."""
    if request.node.get_closest_marker("cuda") is None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def invoke():
    """Run gradcli in-process at a fixed terminal width; stdout and stderr kept apart."""
    runner = CliRunner()

    def run(*args: str, **env: str):
        return runner.invoke(app, list(args), env={"COLUMNS": WIDTH, **env})

    return run


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
