"""``--print-script`` with ``--explain`` where a step's lines need more than the optimizer's
formula: the lr's line of ``--schedule`` (which schedule gave the lr, and torch's closed
form by a rule built afresh, as gradcli computes it), and Muon's formula, given AdamW's for
the parameters Muon does not take. Each script prints gradcli's ``-f jsonl`` byte for byte
and passes ruff (``tests.test_script.check``)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcli import optimizers, schedules
from gradcli.optimizers import muon
from gradcli.problems import BUILTINS
from gradcli.schedules import schedule
from gradcli.schedules.catalog import Rule
from tests.helpers import jsonl, unshrunk
from tests.schedule_strategies import spec_of
from tests.strategies import run_specs
from tests.test_explain_schedules import CYCLING, WITH_MOMENTUM
from tests.test_script import check, command_line

PATHS = ("optim", "manual")
SCHEDULERS = list(schedules.catalog().values())


def same_bytes(invoke, folder: Path, runs: list[list[str]]) -> list[str]:
    """``check`` (each script's lines are gradcli's, number for number; ruff passes), and
    then each script's stdout is gradcli's ``-f jsonl`` byte for byte."""
    outputs = check(invoke, folder, runs)
    assert len(outputs) == len(runs)  # (none diverged: check would leave it out)
    for args, output in zip(runs, outputs, strict=True):
        assert output == invoke(*args, "-f", "jsonl", "-q").stdout, args
    return outputs


def runnable(invoke, runs: list[list[str]]) -> list[list[str]]:
    """The runs gradcli takes: a schedule that drives momentum refuses an optimizer without
    one (exit 2), and a run that diverges (exit 3) has no script to hold to it."""
    return [args for args in runs if invoke(*args, "-f", "jsonl", "-q").exit_code == 0]


# No shrinking: every example prints, lints and runs a dozen scripts. Each example draws every
# scheduler once (nested ones with their schedulers drawn), each with an optimizer and a path.
@pytest.mark.slow
@unshrunk(2)
@given(
    draws=st.tuples(
        *(
            st.tuples(
                spec_of(s), st.sampled_from(list(optimizers.catalog())), st.sampled_from(PATHS)
            )
            for s in SCHEDULERS
        )
    )
)
def test_explain_with_every_schedule_optimizer_and_path(invoke, tmp_path_factory, draws):
    """The lr's line of every scheduler (closed form or none, nested or not), with any
    optimizer on either path: the same bytes as gradcli's."""
    runs = []
    for spec, name, path in draws:
        problem = optimizers.find(name).problem or "linear"
        runs.append(
            [path, "-m", problem, "-o", name, "--explain", "--schedule", spec.text, "--steps", "4"]
        )
    runs = runnable(invoke, runs)
    assert runs
    outputs = same_bytes(invoke, tmp_path_factory.mktemp("scripts"), runs)
    for output in outputs:
        assert all(line["explain"][0].startswith("lr: ") for line in jsonl(output)[1:])


def test_the_lr_s_line_is_gradcli_s_own_code(invoke, tmp_path):
    """The lr's line, with its closed form, on both paths and with the data loop and
    --schedule-per epoch (the line counts the scheduler's steps, epochs there): written by
    ``lr_line`` and the rule's ``closed_words``, printed from their modules; a schedule
    without a closed form (OneCycleLR) has the line alone, and no rule in an optim script."""
    step = ["--schedule", "StepLR(step_size=2, gamma=0.5)"]
    cycle = ["--schedule", "OneCycleLR(max_lr=0.1, total_steps=10)", "--clip-norm", "0.1"]
    data = ["--data", "digits", "-m", "mlp", "--batch-size", "512", "--epochs", "2"]
    runs = [[path, "-m", "mlp", "-o", "adam", "--explain", *step, "--steps", "5"] for path in PATHS]
    runs += [
        ["optim", *data, "-o", "adam", "--explain", *step, "--schedule-per", "epoch"],
        ["manual", "-m", "linear", "-o", "SGD(momentum=0.9)", "--explain", "--steps", "3", *cycle],
    ]
    outputs = same_bytes(invoke, tmp_path, runs)
    closed = jsonl(outputs[0])[3]["explain"][0]
    assert closed.startswith("lr: StepLR(step_size=2, gamma=0.5) after 2 steps: lr = ")
    assert "; closed form base_lr·γ^⌊e/step_size⌋ = " in closed
    steps = [r for r in jsonl(outputs[2]) if "explain" in r]
    epochs = [r for r in jsonl(outputs[2]) if "epoch_end" in r]
    first_of_second = steps[epochs[0]["step"]]  # (the epoch's first step)
    assert first_of_second["epoch"] == 2
    assert first_of_second["explain"][0].startswith(
        "lr: StepLR(step_size=2, gamma=0.5) after 1 epoch: lr = "
    )
    assert steps[-1]["explain"][0].startswith("lr: StepLR(step_size=2, gamma=0.5) after 1 epoch:")
    assert jsonl(outputs[3])[1]["explain"][1].startswith("clip: ")  # (the lr's line first)
    script = invoke(*runs[0], "--print-script").stdout
    assert inspect.getsource(schedule.lr_line) in script
    assert inspect.getsource(Rule.closed_words) in script
    plain = invoke(
        "optim", "-m", "linear", "-o", "adam", "--explain", *cycle, "--print-script", "--steps", "3"
    )
    plain = plain.stdout
    assert "class Rule" not in plain
    assert 'lines = [lr_line(SCHEDULE, step - 1, lr, "step", scheduled)]' in plain


# No shrinking: as above. Muon on every problem it takes (AdamW alone where none is 2-D).
@pytest.mark.slow
@unshrunk(3)
@given(
    draws=st.lists(
        st.tuples(run_specs(["muon"], models=list(BUILTINS), steps=3), st.sampled_from(PATHS)),
        min_size=4,
        max_size=4,
    )
)
def test_explain_with_muon_on_both_paths(invoke, tmp_path_factory, draws):
    """Muon's --explain, any settings, problem, dtype and seed, on either path: its formula
    for the matrices, AdamW's for the rest, the same bytes as gradcli's."""
    runs = runnable(invoke, [[*command_line(path, spec), "--explain"] for spec, path in draws])
    if runs:
        same_bytes(invoke, tmp_path_factory.mktemp("scripts"), runs)


def test_muon_s_formula_is_given_adamw_s(invoke, tmp_path):
    """Muon with --explain on both paths, with a schedule, --state, clipping and --amp fp16
    too: ``explain_with`` of its module, given AdamW's ``explain`` at AdamW's defaults,
    printed from their modules."""
    runs = [[path, "-m", "mlp", "-o", "muon", "--explain", "--steps", "3"] for path in PATHS]
    schedule = ["--schedule", "LinearLR(start_factor=0.5, total_iters=2)"]
    runs += [
        ["optim", "-m", "mlp", "-o", "muon", "--explain", *schedule, "--state", "--steps", "3"],
        ["manual", "-m", "mlp", "-o", "muon", "--explain", "--clip-norm", "0.5", "--steps", "3"],
        ["optim", "-m", "mlp", "-o", "muon", "--explain", "--amp", "fp16", "--steps", "3"],
    ]
    outputs = same_bytes(invoke, tmp_path, runs)
    lines = jsonl(outputs[0])[1]["explain"]
    assert "adamw (not 2-D)" in lines[1] and "adamw" not in lines[0]
    script = invoke(*runs[1], "--print-script").stdout
    assert inspect.getsource(muon.explain_with) in script
    assert inspect.getsource(optimizers.find("adamw").explain) in script
    assert "formula = partial(explain_with, " in script


@pytest.mark.slow
def test_a_schedule_s_momentum_in_the_formula(invoke, tmp_path):
    """OneCycleLR and CyclicLR set each update's momentum or β1: the script reads it from
    the param group before the update (``scheduled``), as gradcli does, for every optimizer
    with momentum or betas on both paths (Muon's and AdamW's side by side), and with the
    data loop and --schedule-per epoch (the lr's line counts epochs): gradcli's bytes."""
    runs = []
    for i, optimizer in enumerate(WITH_MOMENTUM):
        model = "embedding" if optimizer == "sparseadam" else "linear"
        schedule = CYCLING[i % 2]
        path = PATHS[(i // 2) % 2]
        runs.append(
            [
                path,
                "-m",
                model,
                "-o",
                optimizer,
                "--explain",
                "--schedule",
                schedule,
                "--steps",
                "4",
            ]
        )
    data = ["--data", "digits", "-m", "mlp", "--batch-size", "700", "--steps", "5"]
    per_epoch = ["--schedule-per", "epoch", "--explain"]
    runs += [
        ["manual", *data, "-o", "adam", "--schedule", "StepLR(step_size=1)", *per_epoch],
        ["optim", *data, "-o", "muon", "--schedule", CYCLING[0], *per_epoch],
    ]
    outputs = same_bytes(invoke, tmp_path, runs)
    assert "after 1 epoch: lr = " in outputs[-2]
    assert ", momentum = " in outputs[-1] and ", β1 = " in outputs[-1]
    script = invoke(*runs[-1], "--print-script").stdout
    assert 'lines = [lr_line(SCHEDULE, epoch - 1, lr, "epoch", scheduled)]' in script
