"""The command line: the Typer app, ``--version``, and the registration of the commands.

Each command lives in its own module under ``gradcli.cli.commands`` (its options, their
checks, its call into the layers below); the options they share are in ``gradcli.cli.options``
and every way a run ends becomes one line and an exit status in ``gradcli.cli.failures``.
This module must not import torch at import time: ``gradcli --help`` and shell completion
stay fast. Commands import the engine inside their bodies.
"""

from __future__ import annotations

import inspect
from typing import Annotated

import typer

from gradcli._startup import collector
from gradcli.cli.commands import (
    compare,
    ddp,
    diff,
    graph,
    lr_find,
    optimizers,
    params,
    pitfalls,
    plot,
    report,
    schedule,
    step,
    train,
)
from gradcli.cli.failures import GradcliGroup

app = typer.Typer(
    cls=GradcliGroup,
    name="gradcli",
    help="Make one step of neural-network training visible: loss, gradients, parameters "
    "and updates, by hand (manual) and with torch.optim (optim).",
    invoke_without_command=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},  # every command inherits it
)


def _version(asked: bool) -> None:
    """``gradcli --version``: gradcli's, torch's and Python's versions, and whether CUDA is
    there — what a bug report needs. The one option outside a command that imports torch."""
    if not asked:
        return
    import platform

    import torch

    from gradcli import __version__

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        cuda = f"CUDA {torch.version.cuda} available: {count} device" + "s" * (count != 1)
        cuda += f" ({torch.cuda.get_device_name(0)})"
    elif torch.version.cuda is None:
        cuda = "CUDA not available (a CPU-only build)"
    else:
        cuda = f"CUDA not available (built for CUDA {torch.version.cuda}; no GPU found)"
    typer.echo(f"gradcli {__version__}")
    typer.echo(f"torch {torch.__version__}, {cuda}")
    typer.echo(f"Python {platform.python_version()} ({platform.python_implementation()})")
    raise typer.Exit()


@app.callback()
def _top(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_version,
            help="Show the versions of gradcli, torch and Python, whether CUDA is available, "
            "and exit.",
        ),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


app.command("optim", help=train.OPTIM_HELP, epilog=train.OPTIM_EXAMPLES)(train.optim)
app.command("manual", help=train.MANUAL_HELP, epilog=train.MANUAL_EXAMPLES)(train.manual)
app.command("compare", help=compare.HELP, epilog=compare.EXAMPLES)(compare.compare)
app.command("optimizers", help=optimizers.HELP, epilog=optimizers.EXAMPLES)(optimizers.optimizers)
app.command("lr-find", help=lr_find.HELP, epilog=lr_find.EXAMPLES)(lr_find.lr_find)
app.command("schedule", help=schedule.HELP, epilog=schedule.EXAMPLES)(schedule.schedule)
app.command("plot", help=plot.HELP, epilog=plot.EXAMPLES)(plot.plot)
app.command("report", help=report.HELP, epilog=report.EXAMPLES)(report.report)
app.command("diff", help=diff.HELP, epilog=diff.EXAMPLES)(diff.diff)
app.command("params", help=params.HELP, epilog=params.EXAMPLES)(params.params)
app.command("graph", help=graph.HELP, epilog=graph.EXAMPLES)(graph.graph)
app.command("pitfalls", help=pitfalls.HELP, epilog=pitfalls.EXAMPLES)(pitfalls.pitfalls)
app.command("ddp", help=ddp.HELP, epilog=ddp.EXAMPLES)(ddp.ddp)
app.command("step", help=step.HELP, epilog=step.EXAMPLES)(step.step)


def _annotations_evaluated(app: typer.Typer) -> None:
    """Evaluate each command's annotations once, here. They are strings (``from __future__
    import annotations``), which Typer evaluates two or three times per command on every run
    (``inspect.signature(eval_str=True)`` and ``typing.get_type_hints``: 1,170 evals and
    compiles for gradcli's commands, 9 ms of every start-up, ``--help`` included)."""
    callbacks = [info.callback for info in app.registered_commands]
    if app.registered_callback is not None:
        callbacks.append(app.registered_callback.callback)
    for callback in callbacks:
        if callback is not None:
            callback.__annotations__ = inspect.get_annotations(callback, eval_str=True)


_annotations_evaluated(app)


def main() -> None:
    collector.pause()  # until the run starts: see gradcli/_startup/collector.py
    app(prog_name="gradcli")
