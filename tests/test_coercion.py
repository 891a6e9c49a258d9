"""gradcli converts option values itself (no pydantic at start-up), exactly as Typer would."""

from __future__ import annotations

import pytest
import typer.core
import typer.main
from typer import BadParameter

from gradcli._startup import coercion
from tests.helpers import built_commands

# The hook is Typer's (0.29); without it gradcli keeps Typer's own conversion.
build_runtime_param = pytest.importorskip("typer._coercion").build_runtime_param

BUILT = built_commands()
COMMANDS = sorted(BUILT)


def params_of(name: str):
    command = BUILT[name]
    ctx = typer.Context(command, info_name=name)
    coercion.install(command, ctx)
    return ctx, command.get_params(ctx)


def samples(param) -> list:
    annotation = param.type_descriptor.annotation
    if param.multiple:
        return [None, (), ("sgd",), ("sgd,adam", "rmsprop")]
    if annotation is bool:
        return [None, True, False]
    return [None, "0", "7", "-3", "1e-3", "0.25", "inf", "cuda:1", "x", ""]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_converts_as_typer_would(name):
    ctx, params = params_of(name)
    assert params, name
    for param in params:
        assert isinstance(param._runtime_param, coercion._Direct), param.name
        typers = build_runtime_param(param.type_descriptor)
        for value in samples(param):
            try:
                expected = typers.coerce(value, param=param, ctx=ctx)
            except BadParameter as error:
                with pytest.raises(BadParameter) as ours:
                    param._runtime_param.coerce(value, param=param, ctx=ctx)
                assert ours.value.format_message() == error.format_message()
                continue
            got = param._runtime_param.coerce(value, param=param, ctx=ctx)
            assert got == expected and type(got) is type(expected), (param.name, value)


@pytest.mark.slow
def test_a_run_builds_no_pydantic_adapter(invoke, monkeypatch):
    def refuse(descriptor):
        raise AssertionError(f"Typer built an adapter for {descriptor.annotation}")

    monkeypatch.setattr(typer.core, "build_runtime_param", refuse)
    for args in (
        ["optim", "--steps", "2", "--lr", "0.1", "--momentum", "0.5", "--nesterov", "-f", "jsonl"],
        ["manual", "-o", "adam", "--amsgrad", "--steps", "1", "--seed", "3", "-f", "csv", "-q"],
        ["compare", "-o", "sgd,adam", "-o", "rmsprop", "--steps", "1", "-f", "jsonl"],
        ["params", "-f", "jsonl"],
    ):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert result.stdout


def test_a_bad_value_still_names_the_option(invoke):
    result = invoke("optim", "--steps", "many")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "gradcli: error: Invalid value for '--steps': 'many' is not an integer "
        "(see 'gradcli optim --help')\n"
    )
