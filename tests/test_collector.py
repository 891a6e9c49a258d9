"""The command line pauses Python's cycle collector for start-up only: every training step
runs with it on, and what start-up made is frozen out of its way."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest
from lanes import fast_cases

from gradcli import cli
from gradcli._startup import collector
from gradcli.train import loop


@pytest.fixture
def collector_restored():
    yield
    collector.resume()
    gc.unfreeze()  # back into the oldest generation, as before the test
    gc.enable()


@pytest.mark.parametrize(
    "args",
    fast_cases(
        [
            ["optim", "--steps", "3", "-f", "jsonl", "-q"],
            ["manual", "-m", "mlp", "--steps", "3", "-f", "csv", "-q"],
            ["compare", "-o", "sgd,adam", "--steps", "3", "-f", "jsonl"],
        ]
    ),
)
def test_steps_run_with_the_collector_on(args, monkeypatch, capsys, collector_restored):
    seen: list[bool] = []
    forward_backward = loop.Training.forward_backward

    def spy(self):
        seen.append(gc.isenabled())
        return forward_backward(self)

    monkeypatch.setattr(loop.Training, "forward_backward", spy)
    monkeypatch.setattr("sys.argv", ["gradcli", *args])
    before = gc.get_freeze_count()
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0, capsys.readouterr().err
    assert seen and all(seen)  # on for every step (compare: both paths of each method)
    assert gc.isenabled()
    assert gc.get_freeze_count() > before  # start-up's objects were frozen
    assert capsys.readouterr().out


def test_pause_and_resume(collector_restored):
    collector.pause()
    assert not gc.isenabled()
    collector.resume()
    assert gc.isenabled()
    collector.resume()  # a second resume changes nothing
    assert gc.isenabled()


def test_resume_without_pause_leaves_a_disabled_collector_alone(collector_restored):
    gc.disable()
    collector.resume()
    assert not gc.isenabled()


@pytest.mark.slow
def test_ddp_parent_resumes_once_its_workers_run(monkeypatch, capfd, collector_restored):
    monkeypatch.setattr("sys.argv", ["gradcli", "ddp", "--nproc", "2", "--steps", "1", "-q"])
    before = gc.get_freeze_count()
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0, capfd.readouterr().err
    assert gc.isenabled()
    assert gc.get_freeze_count() > before


FIRST_IMPORTS = """
import gc, sys

seen = {}


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in ("typer", "gradcli.cli") and name not in seen:
            seen[name] = gc.isenabled()
        return None


sys.meta_path.insert(0, Watch())
sys.argv = ["gradcli", "--help"]
from gradcli.entry import main

try:
    main()
except SystemExit:
    pass
print(sorted(seen.items()), file=sys.stderr)
"""


def test_the_command_pauses_the_collector_before_importing_the_command_line():
    """A help screen imports Typer, rich and the commands: with the collector on, it walked
    them 30 times (5–24 ms of a 0.2 s --help)."""
    done = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORTS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[('gradcli.cli', False), ('typer', False)]"
