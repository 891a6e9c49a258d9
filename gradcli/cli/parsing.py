"""What every command gets before its arguments are parsed (``--help`` included, which is
printed while parsing): gradcli's own value conversion and argparse-style placeholders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from typer.core import TyperArgument

from gradcli._startup import coercion


def before_parsing(command: Any, ctx: Any) -> None:
    """Ready ``command`` for its arguments (and ``--help``, printed while parsing): its values
    converted by gradcli (see coercion.py), and argparse-style placeholders in the help where
    an option names none — a value option shows its name in capitals (``--device DEVICE``), a
    flag nothing — where Typer 0.29 would print ``<str>`` and ``<bool>`` (and an argument
    its name alone, ``NAME``, not ``NAME <str>``)."""
    coercion.install(command, ctx)
    if "format_help" not in vars(command):
        command.format_help = _fitting_help(command.format_help)
    for param in command.get_params(ctx):
        descriptor = getattr(param, "type_descriptor", None)
        if param.metavar is None and descriptor is not None:
            param.metavar = "" if descriptor.annotation is bool else param.name.upper()
        if isinstance(param, TyperArgument):  # NAME is its placeholder: no <str> beside it
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


def _fitting_help(format_help: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """``format_help`` with typer's option tables sized so that no option name is cut, and
    the optimizer hyperparameters listed (``render/help_panels.py``)."""

    def fitting(ctx: Any, formatter: Any) -> None:
        from typer import rich_utils

        from gradcli.render.fit import FittingTable
        from gradcli.render.help_panels import listing_panels

        rich_utils.Table = FittingTable  # type: ignore[misc]
        rich_utils._print_options_panel = listing_panels(rich_utils._print_options_panel)
        format_help(ctx, formatter)

    return fitting
