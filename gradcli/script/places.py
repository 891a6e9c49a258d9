"""Where a rank's lines go in a path's script (``ddp.py``, ``ddp_data.py``): each place is a
line the path's script must have, found at any indentation; a script without it is a bug in
gradcli (an ``AssertionError``), found by the tests, never a user's mistake."""

from __future__ import annotations


def depth(line: str) -> int:
    """How far ``line`` is indented."""
    return len(line) - len(line.lstrip())


def find(lines: list[str], text: str, start: bool = False, last: bool = True) -> int | None:
    """The index of the last (or with ``last=False`` the first) line that is ``text`` at any
    indentation (with ``start``: that starts with it), or None."""
    order = range(len(lines) - 1, -1, -1) if last else range(len(lines))
    for index in order:
        line = lines[index].strip()
        if line == text or (start and line.startswith(text)):
            return index
    return None


def place(lines: list[str], text: str, start: bool = False, last: bool = True) -> int:
    """``find``, for a line the path's script must have."""
    at = find(lines, text, start, last)
    if at is None:
        raise AssertionError(f"the path's script has no line {text!r}")
    return at
