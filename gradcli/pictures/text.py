"""A picture's lines and where its marks stand, and text wrapped to a width between its
entries, so that no caption or legend of a picture is ever cut at the terminal's edge.

A mark is a cell the picture placed a marker (or a start, an end, a shade) in: a terminal or
an SVG styles those cells, and none that only holds the same character (the o of a word).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Mark = tuple[int, int]  # (line, column)


class Picture(list[str]):
    """The lines of a picture (a plain list of them, as before) and ``marks``: the cells
    whose character is a mark, styled by that character (``styles.STYLES``)."""

    def __init__(self, lines: Iterable[str] = (), marks: Iterable[Mark] = ()) -> None:
        super().__init__(lines)
        self.marks: set[Mark] = set(marks)

    def add(self, line: str, marked: Iterable[int] = ()) -> None:
        """A line, its marks at the columns ``marked``."""
        self.marks.update((len(self), column) for column in marked)
        self.append(line)

    def add_all(self, lines: Sequence[tuple[str, Sequence[int]]]) -> None:
        for line, marked in lines:
            self.add(line, marked)

    def marked_in(self, index: int) -> list[int]:
        """The columns of line ``index`` that hold a mark, left to right."""
        return sorted(column for line, column in self.marks if line == index)


def marks_of(lines: Sequence[str]) -> set[Mark]:
    """The marks of ``lines``: a ``Picture``'s own, none for plain lines."""
    return lines.marks if isinstance(lines, Picture) else set()


def _split(entry: str, room: int) -> list[str]:
    """An entry wider than ``room`` broken between its words (a word wider than ``room``
    stays whole: a number is never cut)."""
    parts: list[str] = []
    for word in entry.split(" "):
        if parts and len(parts[-1]) + 1 + len(word) <= room:
            parts[-1] += " " + word
        else:
            parts.append(word)
    return parts


def wrap(
    entries: Sequence[str],
    width: int,
    *,
    indent: int = 0,
    hanging: int | None = None,
    separator: str = "   ",
    keys: int = 0,
) -> list[tuple[str, list[int]]]:
    """``entries`` joined by ``separator`` on lines of at most ``width`` characters where
    they fit, broken between entries (an entry alone wider than the room breaks between its
    words). The first line starts ``indent`` spaces in, the next ``hanging`` (default:
    ``indent``). Each line comes with the columns where its entries' first ``keys``
    characters stand (a legend's markers)."""
    hanging = indent if hanging is None else hanging
    lines: list[tuple[str, list[int]]] = []
    current, marked = " " * indent, []
    fresh = True  # nothing on the current line yet
    for entry in entries:
        room = width - (indent if not lines else hanging)
        pieces = [entry] if len(entry) <= room else _split(entry, room)
        for k, piece in enumerate(pieces):
            joined = "" if fresh else (separator if k == 0 else " ")
            if not fresh and len(current) + len(joined) + len(piece) > width:
                lines.append((current, marked))
                current, marked, joined = " " * hanging, [], ""
            if k == 0:
                start = len(current) + len(joined)
                marked += range(start, start + keys)
            current += joined + piece
            fresh = False
    lines.append((current, marked))
    return lines


def wrapped(entries: Sequence[str], width: int, **how: Any) -> list[str]:
    """The lines of ``wrap`` without their marks."""
    return [line for line, _ in wrap(entries, width, **how)]
