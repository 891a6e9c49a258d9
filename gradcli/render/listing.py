"""``--show-code``: the loop a run executes, above its tables or beside machine output."""

from __future__ import annotations

import sys

from gradcli.output import Output


def show_listing(output: Output, code: str) -> None:
    """``code`` highlighted on stdout above a table's steps; with a machine format, on
    stderr (words beside the data, as the summary is), and not with ``--quiet``."""
    if output.resolved_format() != "table":
        for line in code.splitlines():
            output.say(line)
        return
    from rich.syntax import Syntax

    console = output.console(sys.stdout)
    console.print(
        Syntax(code, "python", theme="ansi_dark", background_color="default", word_wrap=True)
    )
    console.print()
