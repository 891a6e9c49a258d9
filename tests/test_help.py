"""What --help says agrees with what the commands do."""

from __future__ import annotations

import re

import pytest
import torch
import torch.multiprocessing as mp
from lanes import fast_cases

from gradcli.cli import app
from gradcli.cli.options import DATA_PANEL
from tests.helpers import built_commands

BASE = {  # the smallest run of each command, to which one listed choice is added
    "optim": ["--steps", "1"],
    "manual": ["--steps", "1"],
    "compare": ["-o", "sgd", "--steps", "1"],
    "ddp": ["--nproc", "1", "--steps", "1"],
    "params": [],
    "graph": [],
}


def listed_choices(help: str) -> list[str]:
    """The values a help text lists after a colon or at its start (``Problem: linear, seed,
    ...``, ``auto (CUDA when available), cpu, ...``), asides in parentheses left out, up to
    ``or``; placeholders (``module:FACTORY``) are not values."""
    while re.search(r"\([^()]*\)", help):
        help = re.sub(r" ?\([^()]*\)", "", help)
    found = re.search(r"(?:^|: )([a-z][\w.:-]*(?:, [a-z][\w.:-]*)+)", help)
    if found is None:
        return []
    values = [v.rstrip(".") for v in found.group(1).split(", ")]
    values = values[: values.index("or")] if "or" in values else values
    return [v for v in values if v == v.lower()]


def choices() -> list[tuple[str, str, str]]:
    built = built_commands()
    found = []
    for name in BASE:
        for param in built[name].params:
            if getattr(param, "hidden", False) or param.rich_help_panel in (
                "Optimizer hyperparameters",
                DATA_PANEL,  # they need --data: tests/test_data_loop.py tries each choice
            ):
                continue
            found += [(name, param.opts[0], v) for v in listed_choices(param.help or "")]
    return found


class Started(Exception):
    """ddp got as far as starting its workers: every check passed."""


def test_the_help_lists_choices_for_the_options_that_have_them():
    listed = {(command, option) for command, option, _ in choices()}
    for command in ("optim", "manual", "compare", "ddp"):
        assert {(command, "--model"), (command, "--dtype"), (command, "--device")} <= listed
        assert (command, "--format") in listed
    assert ("optim", "--impl") in listed and ("manual", "--impl") in listed
    manual_impls = {v for c, o, v in choices() if (c, o) == ("manual", "--impl")}
    assert manual_impls == {"forloop", "foreach"}  # fused: torch's kernels, not written by hand
    assert {("params", "--model"), ("graph", "--format"), ("ddp", "--path")} <= listed


@pytest.mark.parametrize(
    ("command", "option", "value"),
    fast_cases([pytest.param(*c, id=" ".join(c)) for c in choices()], 10, several=True),
)
def test_every_choice_the_help_lists_is_accepted(invoke, monkeypatch, command, option, value):
    if value.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    if command == "ddp":

        def start_processes(*args, **kwargs):
            raise Started

        monkeypatch.setattr(mp, "start_processes", start_processes)
    result = invoke(command, *BASE[command], option, value)
    if command == "ddp":
        assert isinstance(result.exception, Started), result.stderr
    else:
        assert result.exit_code == 0, result.stderr


def test_ddp_offers_only_the_problems_it_can_shard(invoke):
    model = next(p for p in built_commands()["ddp"].params if p.name == "model")
    assert listed_choices(model.help) == ["linear", "mlp"]
    refused = invoke("ddp", "-m", "seed")
    assert refused.exit_code == 2 and "has no data to shard" in refused.stderr


@pytest.mark.parametrize("command", ["optim", "manual", "compare", "ddp", "params", "graph"])
def test_model_help_names_your_own_factory(command):
    model = next(p for p in built_commands()[command].params if p.name == "model")
    assert "module:FACTORY" in model.help and "file.py:FACTORY" in model.help


@pytest.mark.slow
def test_manual_help_says_what_happens_to_the_gradients(invoke):
    text = " ".join(invoke("manual", "--help").stdout.replace("│", " ").split())
    assert "zeroed" not in text
    assert "the gradients are dropped (set to None, as optimizer.zero_grad() does)" in text


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["optim", "--lr"], "gradcli optim"),
        (["compare", "--tol"], "gradcli compare"),
        (["manual", "-m", "seed", "--steps"], "gradcli manual"),
        (["--bogus"], "gradcli"),
    ],
)
def test_an_option_without_its_value_points_to_its_commands_help(invoke, args, where):
    result = invoke(*args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.endswith(f"(see '{where} --help')\n")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("command", ["optim", "manual", "compare", "ddp"])
def test_no_option_name_is_cut_at_80_columns(invoke, command):
    """rich would cut --initial-accumulator-value to --initial-accumulato… at 80 columns."""
    result = invoke(command, "--help", COLUMNS="80")
    assert "…" not in result.stdout
    assert "--initial-accumulator-value" in result.stdout
    from rich.cells import cell_len  # (a combining accent, as in v̂, takes no cell)

    assert max(map(cell_len, result.stdout.splitlines())) <= 80


def test_commands_annotations_are_evaluated_once_when_built():
    """Typer evaluates string annotations two or three times per command on every run
    (``--help`` included): gradcli hands it the objects, evaluated once."""
    callbacks = [command.callback for command in built_commands().values()]
    callbacks.append(app.registered_callback.callback)
    for callback in callbacks:
        callback = getattr(callback, "__wrapped__", callback)
        assert callback.__annotations__, callback
        assert not [a for a in callback.__annotations__.values() if isinstance(a, str)], callback
