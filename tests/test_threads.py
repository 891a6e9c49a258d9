"""One intra-op thread for small models on the CPU, torch's choice otherwise or when the
user set the number of threads."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gradcli._startup import threads


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(1)


def model_with(numel: int) -> nn.Module:
    model = nn.Module()
    model.small = nn.Parameter(torch.zeros(3))
    model.main = nn.Parameter(torch.zeros(numel))
    return model


CPU = torch.device("cpu")


def test_a_small_model_on_the_cpu_uses_one_thread(two_threads):
    threads.suit(model_with(threads.GRAIN), CPU)
    assert torch.get_num_threads() == 1


def test_a_parameter_over_the_grain_keeps_torchs_default(two_threads):
    threads.suit(model_with(threads.GRAIN + 1), CPU)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("variable", ["OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_the_users_choice_wins(two_threads, monkeypatch, variable):
    monkeypatch.setenv(variable, "2")
    threads.suit(model_with(10), CPU)
    assert torch.get_num_threads() == 2


def test_a_gpu_run_leaves_cpu_threads_alone(two_threads):
    threads.suit(model_with(10), torch.device("cuda"))
    assert torch.get_num_threads() == 2


def test_a_run_applies_it(two_threads, invoke):
    result = invoke("optim", "-m", "mlp", "--steps", "1", "-f", "jsonl", "--device", "cpu")
    assert result.exit_code == 0
    assert torch.get_num_threads() == 1
