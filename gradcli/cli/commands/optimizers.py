"""``gradcli optimizers [NAME]``: the catalog, or one optimizer's page. No torch: the catalog
is torch-free."""

from __future__ import annotations

from typing import Annotated

import typer

from gradcli import optimizers as catalog
from gradcli.cli import options as opt
from gradcli.spec import MODELS

EXAMPLES = opt.examples(
    "gradcli optimizers",
    "gradcli optimizers adam",
    "gradcli optimizers --format jsonl | jq -r .name",
)


def optimizers(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            autocompletion=opt.OPTIMIZER_COMPLETION,
            help="An optimizer's name.",
            show_default=False,
        ),
    ] = None,
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = opt.output_of(format, quiet, color)
    from gradcli.render import optimizers as shown
    from gradcli.render import show_rows

    if name is None:
        show_rows(output, shown.catalog_table, shown.catalog_rows)
        return
    optimizer = catalog.find(name, "optimizers NAME")
    show_rows(
        output,
        lambda console: shown.optimizer_page(optimizer, console, list(MODELS)),
        lambda fmt: shown.keyword_rows(optimizer, fmt),
        shown.KEYWORD_FIELDS,
    )
