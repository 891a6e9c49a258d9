"""``gradcli pitfalls [NAME]``: classic mistakes run beside the correct code. The list needs
no torch, so it answers at once."""

from __future__ import annotations

from typing import Annotated

import typer

from gradcli.cli import options as opt
from gradcli.errors import GradcliError
from gradcli.spec import PITFALL_SUMMARIES

DETAILS = "The pitfalls: " + ", ".join(PITFALL_SUMMARIES) + "."
EXAMPLES = opt.examples(
    "gradcli pitfalls",
    "gradcli pitfalls data-zero",
    "gradcli pitfalls no-zero-grad --format jsonl",
)
PITFALL_FIELDS = ("pitfall", "step", "quantity", "mistake", "correct")


def pitfalls(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            autocompletion=opt.completion(*PITFALL_SUMMARIES),
            help="The pitfall to run.",
            show_default=False,
        ),
    ] = None,
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = opt.output_of(format, quiet, color)
    from gradcli.render import lessons as shown
    from gradcli.render import show_rows

    if name is None:  # the list: no torch
        show_rows(
            output,
            lambda console: shown.pitfall_list(console, PITFALL_SUMMARIES),
            lambda fmt: shown.pitfall_summaries(),
            ("name", "summary"),
        )
        return
    if name not in PITFALL_SUMMARIES:
        choices = ", ".join(PITFALL_SUMMARIES)
        raise GradcliError(f"unknown pitfall {name!r}; choose one of: {choices}")
    from gradcli.lessons import pitfalls as lessons

    outcome = lessons.PITFALL_RUNS[name]()
    show_rows(
        output,
        lambda console: shown.pitfall_table(console, outcome, PITFALL_SUMMARIES[name]),
        lambda fmt: shown.pitfall_dicts(outcome),
        PITFALL_FIELDS,
    )
