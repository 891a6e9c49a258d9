"""Python source for a terminal: highlighted as rich's ``Syntax`` does, and a line wider
than the terminal broken between words and continued four columns further in than the line
starts, as Python's own continuation lines are, never back at column 0."""

from __future__ import annotations

from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

CONTINUATION = 4  # how much further in than its line a continuation starts


def code_lines(code: str, width: int) -> list[Text]:
    """``code`` highlighted, one ``Text`` per line of at most ``width`` columns where its
    words allow (a word wider than that stays whole)."""
    syntax = Syntax(code, "python", theme="ansi_dark", background_color="default")
    source_lines = syntax.highlight(code).split("\n", allow_blank=True)
    if not code.endswith("\n"):  # (highlighting ends every text on a newline)
        source_lines.pop()
    lines: list[Text] = []
    for line in source_lines:
        lines += _broken(line, width)
    return lines


def _broken(line: Text, width: int) -> list[Text]:
    """``line`` as it is where it fits, else broken at the last space that fits each piece,
    the pieces after the first indented ``CONTINUATION`` columns more than the line."""
    plain = line.plain
    if len(plain) <= width:
        return [line]
    hang = len(plain) - len(plain.lstrip(" ")) + CONTINUATION
    pieces: list[Text] = []
    start, room, prefix = 0, width, ""
    while len(plain) - start > room:
        floor = start + (hang - CONTINUATION if not pieces else 0)  # not inside the indent
        cut = plain.rfind(" ", floor + 1, start + room + 1)
        if cut == -1:  # a word wider than the room: whole, up to the next space
            cut = plain.find(" ", start + room)
            if cut == -1:
                break
        comment = plain.rfind("#", start, cut)
        if comment > floor and not plain[comment + 1 : cut].strip():  # a "#" alone at the end
            earlier = plain.rfind(" ", floor + 1, comment)
            if earlier > start:  # break before it: the comment's words follow their "#"
                cut = earlier
        piece = line[start:cut]
        piece.rstrip()  # (in place)
        pieces.append(Text(prefix) + piece)
        start = cut + 1
        while start < len(plain) and plain[start] == " ":
            start += 1
        room, prefix = width - hang, " " * hang
    pieces.append(Text(prefix) + line[start:])
    return pieces


def print_code(console: Console, code: str) -> None:
    """``code`` on ``console``, each line broken to its width as ``code_lines`` does."""
    for line in code_lines(code, console.width):
        console.print(line, soft_wrap=True)
