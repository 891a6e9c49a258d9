"""Resuming with other hyperparameters: a change whose update needs state the checkpoint
lacks is one line and exit 2, before the run; one that reads the same state goes on."""

from __future__ import annotations

import pytest
from lanes import fast_cases

from tests.helpers import jsonl

NEEDS_STATE = [
    ("adam", [], ["--amsgrad"], "max_exp_avg_sq", "amsgrad=True (the checkpoint's: False)"),
    ("rmsprop", [], ["--centered"], "grad_avg", "centered=True (the checkpoint's: False)"),
    ("rmsprop", [], ["--momentum", "0.9"], "momentum_buffer", "momentum=0.9"),
]


@pytest.mark.parametrize("command", fast_cases(["optim", "manual"]))
@pytest.mark.parametrize(
    ("optimizer", "saved_with", "resumed_with", "key", "setting"),
    NEEDS_STATE,
    ids=[f"{o} {' '.join(r)}" for o, _, r, _, _ in NEEDS_STATE],
)
def test_resuming_with_settings_that_need_absent_state_is_refused(
    invoke, tmp_path, command, optimizer, saved_with, resumed_with, key, setting
):
    checkpoint = str(tmp_path / "ck.pt")
    base = ("-m", "seed", "-o", optimizer, "--steps", "2", "-f", "jsonl")
    assert invoke(command, *base, *saved_with, "--save", checkpoint, "-q").exit_code == 0
    result = invoke(command, *base, *resumed_with, "--resume", checkpoint)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"gradcli: error: --resume {checkpoint}: the checkpoint's optimizer state has no "
    )
    assert key in lines[0] and setting in lines[0]


@pytest.mark.parametrize("command", fast_cases(["optim", "manual"]))
def test_resuming_with_settings_that_read_the_same_state_goes_on(invoke, tmp_path, command):
    checkpoint = str(tmp_path / "ck.pt")
    base = ("-m", "seed", "-o", "adam", "--amsgrad", "--steps", "2", "-f", "jsonl", "-q")
    assert invoke(command, *base, "--save", checkpoint).exit_code == 0
    result = invoke(command, *base, "--lr", "0.5", "--weight-decay", "0.1", "--resume", checkpoint)
    assert result.exit_code == 0, result.stderr
    assert [r["step"] for r in jsonl(result.stdout)] == [3, 4]
