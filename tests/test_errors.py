"""Bad input: one line on stderr naming the value and what is allowed, exit 2, empty stdout."""

from __future__ import annotations

import pytest
import torch
from lanes import fast_cases

BAD = [
    (["--steps", "-1"], "--steps must be an integer in [0, 2**63), got -1"),
    (["--steps", "1" + "0" * 30], "--steps must be an integer in [0, 2**63), got 1" + "0" * 30),
    (["--steps", "abc"], "Invalid value for '--steps': 'abc' is not an integer"),
    (["--steps", "2.5"], "'2.5' is not an integer"),
    (["--every", "0"], "--every must be an integer >= 1, got 0"),
    (["--lr", "-0.1"], "--lr must be a finite number >= 0, got -0.1"),
    (["--lr", "nan"], "--lr must be a finite number >= 0, got nan"),
    (["--lr", "inf"], "--lr must be a finite number >= 0, got inf"),
    (["--lr", "fast"], "Invalid value for '--lr': 'fast' is not a number"),
    (["--momentum", "1"], "--momentum must be a number in [0, 1), got 1.0"),
    (["--momentum", "-0.5"], "--momentum must be a number in [0, 1), got -0.5"),
    (["--dampening", "2"], "--dampening must be a number in [0, 1], got 2.0"),
    (["--weight-decay", "-1"], "--weight-decay must be a finite number >= 0, got -1.0"),
    (
        ["--nesterov"],
        "--optimizer sgd: nesterov needs momentum > 0 and dampening 0 (torch's rule), "
        "got momentum 0 and dampening 0",
    ),
    (
        ["--nesterov", "--momentum", "0.9", "--dampening", "0.1"],
        "--optimizer sgd: nesterov needs momentum > 0 and dampening 0 (torch's rule), "
        "got momentum 0.9 and dampening 0.1",
    ),
    (
        ["--model", "resnet"],
        "--model: unknown model 'resnet'; choose one of: linear, seed, mlp, rosenbrock",
    ),
    (["--optimizer", "lion"], "--optimizer: unknown optimizer 'lion'; choose one of: "),
    (
        ["--dtype", "float16"],
        "--dtype: unknown dtype 'float16' (did you mean float64?); choose one of: float32, float64",
    ),
    (["--device", "tpu"], "--device: unknown device 'tpu'; choose one of: auto, cpu, cuda, cuda:N"),
    (["--format", "xml"], "--format: unknown format 'xml'; choose one of: auto, table, jsonl"),
    (["--seed", "-3"], "--seed must be an integer in [0, 2**63), got -3"),
    (["--bogus"], "--bogus"),
]


@pytest.mark.parametrize("command", fast_cases(["optim", "manual"]))
@pytest.mark.parametrize(
    ("args", "message"), fast_cases(BAD, 8, several=True), ids=[" ".join(a) for a, _ in BAD]
)
def test_bad_input_is_one_line_and_exit_2(invoke, command, args, message):
    result = invoke(command, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gradcli: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("device", fast_cases(["cuda", "cuda:1"]))
def test_cuda_without_cuda_is_a_clear_error(invoke, device):
    result = invoke("optim", "--device", device)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"gradcli: error: --device {device}: CUDA is not available here")
    assert lines[0].endswith("use --device cpu or auto")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_missing_gpu_index_is_a_clear_error(invoke):

    result = invoke("optim", "--device", f"cuda:{torch.cuda.device_count()}")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "no such GPU" in result.stderr


def test_unknown_command(invoke):
    result = invoke("train")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "gradcli: error: No such command 'train'. (see 'gradcli --help')\n"
