"""A table's caption that wraps between its entries (``a · b · c``) rather than inside
one, so a legend such as ``update = after − before`` is never split across two lines
unless it alone is wider than the table."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from gradcli.pictures.text import wrapped


class Caption(Text):
    """``text``'s lines, each wrapped at the width it is rendered in between the entries
    ``separator`` divides it into, in the style of a table's caption."""

    def __init__(self, text: str, separator: str = " · ") -> None:
        super().__init__(text, style="table.caption")
        self.separator = separator

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines: list[str] = []
        for line in self.plain.split("\n"):
            lines += wrapped(
                line.split(self.separator), options.max_width, separator=self.separator
            )
        laid_out = Text("\n".join(lines), style=self.style, justify=options.justify)
        yield from laid_out.__rich_console__(console, options)
