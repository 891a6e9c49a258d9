from __future__ import annotations

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
