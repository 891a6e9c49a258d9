"""The views of ``gradcli optimizers [NAME]``: the catalog as a table or rows, one optimizer's
page or its keywords as rows.

Reads only the torch-free catalog: listing the optimizers never imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gradcli.optimizers import catalog
from gradcli.optimizers.catalog import Optimizer, plain
from gradcli.render.fit import fit_columns, fitted

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table


def _json_value(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _keywords(optimizer: Optimizer) -> str:
    return ", ".join(f"{h.name}={plain(h.default)}" for h in optimizer.hyperparameters)


def catalog_table(console: Console) -> None:
    """Every optimizer in one table: its name, torch class, lr and keywords; where that is
    too wide to show every keyword whole (60 columns), the torch class under the name."""
    table = _catalog(compact=False)
    if not fit_columns(console, table, console.width):
        table = fitted(console, _catalog(compact=True))
    console.print(table)


def _catalog(compact: bool) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(
        title="[bold]optimizers[/] (one page each: gradcli optimizers NAME)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    names = ("name\ntorch.optim",) if compact else ("name", "torch.optim")
    for column in (*names, "lr", "keywords and torch's defaults"):
        table.add_column(column, no_wrap=column != "keywords and torch's defaults")
    for o in catalog().values():
        name = (
            [f"[bold]{o.name}[/]\n{o.torch_class}"]
            if compact
            else [f"[bold]{o.name}[/]", o.torch_class]
        )
        table.add_row(*name, f"{o.lr:g}", _keywords(o))
    return table


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


def optimizer_page(optimizer: Optimizer, console: Console, problems: Sequence[str] = ()) -> None:
    """One optimizer's page: what it mirrors, its rule as math, its keywords, its state;
    ``problems``: the built-in problems, each named with the lr gradcli starts it at."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    call = (
        f"torch.optim.{optimizer.torch_class}(params, lr={optimizer.lr:g}, {_keywords(optimizer)})"
    )
    console.print(f"[bold]{optimizer.name}[/]: {escape(optimizer.summary)}")
    mirrors = Table.grid(padding=(0, 1))  # the call wraps under itself
    mirrors.add_column(no_wrap=True)
    mirrors.add_column()
    mirrors.add_row("mirrors", Text(call))
    console.print(mirrors)
    console.print()
    for part in math_lines(optimizer.math, console.width):
        console.print(part)
    console.print()
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("keyword", "default", "allowed", "meaning"):
        table.add_column(column, no_wrap=column == "keyword")
    lr_meaning = _lr_meaning(optimizer, problems)
    table.add_row("lr", f"{optimizer.lr:g}", "a finite number >= 0", lr_meaning)
    for h in optimizer.hyperparameters:
        shorthand = f" (--{', --'.join(h.shorthands)})" if h.shorthands else ""
        table.add_row(h.name, plain(h.default), h.allowed.describe(), h.help + shorthand)
    console.print(fitted(console, table))
    state = Table(title="state, under torch's keys", title_justify="left", box=box.SIMPLE_HEAD)
    state.add_column("key", no_wrap=True)
    state.add_column("meaning")
    for key, meaning in optimizer.state.items():
        state.add_row(key, meaning)
    console.print(fitted(console, state))


_CODE = re.compile(r"``([^`]+)``")  # reStructuredText's inline code
_COMMENTED = re.compile(r"^(\s+\S.*?\s{2,})(\S.*)$")  # a formula, then its comment
_COMMENT_ROOM = 24  # the narrowest a comment beside its formula may wrap in


def math_lines(math: str, width: int) -> list[RenderableType]:
    """A rule's docstring for a terminal ``width`` wide: inline code without its RST quotes
    (``step`` as step), prose reflowed to the width, and each indented formula kept on its
    line where it fits, else wrapped under its comment (``if maximize``) or, without one,
    under its own indentation: never back to column 0."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    shown: list[RenderableType] = []
    prose: list[str] = []
    for line in [*_CODE.sub(r"\1", math).splitlines(), ""]:
        if line.strip() and not line[0].isspace():
            prose.append(line.strip())
            continue
        if prose:
            shown.append(Text(" ".join(prose)))
            prose.clear()
        commented = _COMMENTED.match(line)
        indent = len(line) - len(line.lstrip())
        if len(line) <= width:
            shown.append(Text(line))
        elif commented and width - len(commented.group(1)) >= _COMMENT_ROOM:
            grid = Table.grid()
            grid.add_column(no_wrap=True)
            grid.add_column()
            grid.add_row(Text(commented.group(1)), Text(commented.group(2)))
            shown.append(grid)
        elif commented:  # the comment on the next lines, under the formula and further in
            shown.append(Padding(Text(commented.group(1).strip()), (0, 0, 0, indent)))
            shown.append(Padding(Text(commented.group(2)), (0, 0, 0, indent + 4)))
        else:
            shown.append(Padding(Text(line.strip()), (0, 0, 0, indent)))
    return shown[:-1]  # (the blank line added to end the last paragraph)


def _lr_meaning(optimizer: Optimizer, problems: Sequence[str]) -> str:
    """Torch's default, and where gradcli starts each built-in problem: its own lr for the
    optimizer where it has one, else torch's."""
    chosen = ", ".join(f"{model} {lr:g}" for model, lr in optimizer.lrs.items())
    rest = [model for model in problems if model not in optimizer.lrs]
    if not chosen:
        return "Learning rate (torch's default; gradcli starts every built-in problem there)"
    others = f"; {', '.join(rest)} at torch's {optimizer.lr:g}" if rest else ""
    return f"Learning rate (torch's default shown; gradcli starts {chosen}{others})"
