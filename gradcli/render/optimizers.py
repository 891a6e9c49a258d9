"""The views of ``gradcli optimizers [NAME]``: the catalog as a table or rows, one optimizer's
page or its keywords as rows.

Reads only the torch-free catalog: listing the optimizers never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcli.optimizers import catalog
from gradcli.optimizers.catalog import Optimizer, plain

if TYPE_CHECKING:
    from rich.console import Console


def _json_value(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _keywords(optimizer: Optimizer) -> str:
    return ", ".join(f"{h.name}={plain(h.default)}" for h in optimizer.hyperparameters)


def catalog_table(console: Console) -> None:
    """Every optimizer in one table: its name, torch class, lr and keywords."""
    from rich import box
    from rich.table import Table

    table = Table(
        title="[bold]optimizers[/] (one page each: gradcli optimizers NAME)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in ("name", "torch.optim", "lr", "keywords and torch's defaults"):
        table.add_column(column, no_wrap=column != "keywords and torch's defaults")
    for o in catalog().values():
        table.add_row(f"[bold]{o.name}[/]", o.torch_class, f"{o.lr:g}", _keywords(o))
    console.print(table)


def catalog_rows(fmt: str) -> list[dict[str, Any]]:
    """One row per optimizer; its hyperparameters an object in jsonl, ``k=v`` words in a
    csv or tsv cell."""
    return [
        {
            "name": o.name,
            "torch_class": o.torch_class,
            "lr": o.lr,
            "hyperparameters": (
                {h.name: _json_value(h.default) for h in o.hyperparameters}
                if fmt == "jsonl"
                else " ".join(f"{h.name}={plain(h.default)}" for h in o.hyperparameters)
            ),
            "state": list(o.state),
            "summary": o.summary,
        }
        for o in catalog().values()
    ]


KEYWORD_FIELDS = ("name", "keyword", "default", "allowed", "meaning")


def keyword_rows(optimizer: Optimizer, fmt: str) -> list[dict[str, Any]]:
    """One row per keyword of ``optimizer``."""
    return [
        {
            "name": optimizer.name,
            "keyword": h.name,
            "default": _json_value(h.default) if fmt == "jsonl" else plain(h.default),
            "allowed": h.allowed.describe(),
            "meaning": h.help,
        }
        for h in optimizer.hyperparameters
    ]


def optimizer_page(optimizer: Optimizer, console: Console) -> None:
    """One optimizer's page: what it mirrors, its rule as math, its keywords, its state."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    call = (
        f"torch.optim.{optimizer.torch_class}(params, lr={optimizer.lr:g}, {_keywords(optimizer)})"
    )
    console.print(f"[bold]{optimizer.name}[/]: {escape(optimizer.summary)}")
    console.print(f"mirrors {escape(call)}", highlight=False)
    console.print()
    console.print(optimizer.math, markup=False, highlight=False)
    console.print()
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("keyword", "default", "allowed", "meaning"):
        table.add_column(column, no_wrap=column == "keyword")
    table.add_row("lr", f"{optimizer.lr:g}", "a finite number >= 0", _lr_meaning(optimizer))
    for h in optimizer.hyperparameters:
        shorthand = f" (--{', --'.join(h.shorthands)})" if h.shorthands else ""
        table.add_row(h.name, plain(h.default), h.allowed.describe(), h.help + shorthand)
    console.print(table)
    state = Table(title="state, under torch's keys", title_justify="left", box=box.SIMPLE_HEAD)
    state.add_column("key", no_wrap=True)
    state.add_column("meaning")
    for key, meaning in optimizer.state.items():
        state.add_row(key, meaning)
    console.print(state)


def _lr_meaning(optimizer: Optimizer) -> str:
    chosen = ", ".join(f"{model} {lr:g}" for model, lr in optimizer.lrs.items())
    return "Learning rate (torch's default shown; gradcli starts " + (
        f"the built-in problems at: {chosen})" if chosen else "every problem there)"
    )
