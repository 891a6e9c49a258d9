"""Resuming with other hyperparameters: a change whose update needs state the checkpoint
lacks is one line and exit 2, before the run; one that reads the same state goes on."""

from __future__ import annotations

import io
import sys

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


FLAKY = """
import pathlib, torch
MARK = pathlib.Path(__file__).with_name("fail")
class Bowl(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
        self.calls = 0
    def forward(self):
        self.calls += 1
        if self.calls == 5 and MARK.exists():
            raise ValueError("flaky")
        return (self.w ** 2).sum()
def build():
    return Bowl()
"""


@pytest.mark.parametrize("command", fast_cases(["optim", "manual"]))
def test_resuming_a_stopped_run_finishes_it(invoke, tmp_path, command):
    """A run stopped early (here its model fails in step 5 of 8; Ctrl-C and a closed pipe
    save the same checkpoint) is finished by --resume alone: steps 5-8, the bytes the whole
    run prints; --steps given still says how many more."""
    (tmp_path / "flaky.py").write_text(FLAKY)
    model = f"{tmp_path}/flaky.py:build"
    ck = str(tmp_path / "ck.pt")
    args = ["-m", model, "-o", "adam", "--steps", "8", "-f", "jsonl"]
    whole = invoke(command, *args)
    (tmp_path / "fail").touch()
    stopped = invoke(command, *args, "--save", ck)
    assert stopped.exit_code == 2 and "step 5:" in stopped.stderr
    (tmp_path / "fail").unlink()
    rest = invoke(command, "--resume", ck, "-m", model, "-f", "jsonl")
    assert rest.exit_code == 0, rest.stderr
    assert [r["step"] for r in jsonl(rest.stdout)] == [5, 6, 7, 8]
    assert stopped.stdout + rest.stdout == whole.stdout
    assert rest.stderr.startswith("gradcli: steps 5–8 (resumed from step 4), loss ")
    two = invoke(command, "--resume", ck, "-m", model, "--steps", "2", "-f", "jsonl")
    assert [r["step"] for r in jsonl(two.stdout)] == [5, 6]


def test_the_progress_bar_of_a_resumed_run_starts_at_its_step(invoke, tmp_path, monkeypatch):
    """The bar counts the run's steps, 2741/200000, not the resumed part's 1/197260."""
    from gradcli import output

    bars = []
    progress = output.Output.progress

    def spy(self, total, description, *, thinned, start=0):
        bars.append((total, start))
        return progress(self, total, description, thinned=thinned, start=start)

    monkeypatch.setattr(output.Output, "progress", spy)
    ck = str(tmp_path / "ck.pt")
    invoke("optim", "-m", "seed", "--steps", "3", "--save", ck, "-q")
    invoke("optim", "--resume", ck, "--steps", "4", "-q")
    assert bars == [(3, 0), (7, 3)]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_drawn_from_a_step_shows_the_steps_of_the_whole_run(monkeypatch):
    from gradcli import output

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(output, "BAR_DELAY", 0)
    bar = output.Output(color=False).progress(200_000, "gradcli optim", thinned=True, start=2740)
    with bar as progress:
        progress(2741)
    assert "2740/200000" in terminal.getvalue() and "2741/200000" in terminal.getvalue()
