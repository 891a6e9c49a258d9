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
    from gradcli.render.code import print_code

    console = output.console(sys.stdout)
    print_code(console, code)
    console.print()
