"""The command line: the Typer app, ``--version``, and its commands, each imported and built
when it is named (``CommandsWhenNamed``).

Each command lives in its own module under ``gradcli.cli.commands`` (its options, their
checks, its call into the layers below); the options they share are in ``gradcli.cli.options``
and every way a run ends becomes one line and an exit status in ``gradcli.cli.failures``.
This module must not import torch at import time: ``gradcli --help`` and shell completion
stay fast. Commands import the engine inside their bodies.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Annotated, Any

import typer
from typer.core import TyperCommand
from typer.main import get_command_from_info
from typer.models import CommandInfo

from gradcli._startup import collector
from gradcli.cli.commands import COMMANDS
from gradcli.cli.failures import GradcliGroup


class CommandsWhenNamed(GradcliGroup):
    """The app's group: a command's module is imported, and its options built, when the
    command line names it. ``gradcli --help`` lists the commands from ``COMMANDS`` alone
    (its help needs no command module: 0.06 s of the 0.24 s it took when every command
    was imported and built), ``gradcli optim -h`` builds ``optim`` alone."""

    listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            if self.listing:  # a name and its help: what a listing shows
                return TyperCommand(cmd_name, help=COMMANDS[cmd_name].help)
            self.add_command(built(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        """Completing a command's name lists the names and their help, building none."""
        self.listing = True
        try:
            return super().shell_complete(ctx, incomplete)
        finally:
            self.listing = False


def built(name: str) -> Any:
    """The click command of ``name``: its module imported, its annotations evaluated once
    (they are strings, ``from __future__ import annotations``, which Typer would evaluate two
    or three times: ``inspect.signature(eval_str=True)`` and ``typing.get_type_hints``), its
    options built by Typer."""
    where = COMMANDS[name]
    module = importlib.import_module(f"gradcli.cli.commands.{where.module}")
    callback = getattr(module, where.function)
    callback.__annotations__ = inspect.get_annotations(callback, eval_str=True)
    details = getattr(module, "DETAILS", None)
    info = CommandInfo(
        name=name,
        callback=callback,
        help=where.help if details is None else f"{where.help}\n\n{details}",
        epilog=getattr(module, where.examples),
    )
    return get_command_from_info(
        info,
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )


app = typer.Typer(
    cls=CommandsWhenNamed,
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


_top.__annotations__ = inspect.get_annotations(_top, eval_str=True)  # (see ``built``)


def main() -> None:
    collector.pause()  # until the run starts: see gradcli/_startup/collector.py
    app(prog_name="gradcli")
