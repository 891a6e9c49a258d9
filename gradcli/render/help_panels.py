"""Help panels drawn in a few lines where one row per option would drown the page.

``gradcli optim -h`` has one option per keyword of torch's optimizers (40 of them): as rows,
213 of the page's 443 lines at 80 columns, each repeating what ``gradcli optimizers NAME``
says in full. Their panel lists them instead, ``--name=PLACEHOLDER`` each (as they are
typed), with where their meanings are. The options themselves are unchanged: parsed,
checked and completed as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.panel import Panel
from rich.text import Text

LISTED = {
    "Optimizer hyperparameters": (
        "Each keyword of torch's optimizers is an option, checked against the optimizer "
        "chosen (set one the optimizer does not take and gradcli says so). What one means, "
        "its default and the values it allows: gradcli optimizers NAME."
    ),
}


def listing_panels(print_panel: Callable[..., None]) -> Callable[..., None]:
    """typer's ``_print_options_panel``, but a panel of ``LISTED`` as its text and a list."""
    if getattr(print_panel, "lists", False):
        return print_panel

    def print_or_list(*, name: str, params: list[Any], ctx: Any, **rest: Any) -> None:
        about = LISTED.get(name)
        if about is None or not params:
            print_panel(name=name, params=params, ctx=ctx, **rest)
            return
        from typer import rich_utils

        text = Text(about + "\n\n")
        for i, spelled in enumerate(map(spelling, sorted(params, key=lambda p: p.opts[0]))):
            text.append("  " if i else "")
            text.append(spelled, style=rich_utils.STYLE_OPTION)
        rest["console"].print(
            Panel(
                text,
                border_style=rich_utils.STYLE_OPTIONS_PANEL_BORDER,
                title=name,
                title_align=rich_utils.ALIGN_OPTIONS_PANEL,
            )
        )

    print_or_list.lists = True  # type: ignore[attr-defined]
    return print_or_list


def spelling(param: Any) -> str:
    """An option as it is typed: ``--betas=B1,B2``, ``--amsgrad``, ``--nesterov/--no-nesterov``."""
    names = "/".join([*param.opts, *param.secondary_opts])
    takes_value = not getattr(param, "is_flag", False) and param.metavar
    return f"{names}={param.metavar}" if takes_value else names
