"""A user's text inside rich markup: control characters escaped (``gradcli.printable``),
then brackets, so ``x[/]`` is not markup and ``'\\x1b[2J'`` does not clear the screen."""

from __future__ import annotations

from rich.markup import escape as _escape_markup

from gradcli.printable import printable


def escape(text: str) -> str:
    return _escape_markup(printable(text))
