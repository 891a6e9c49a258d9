"""Text from a user (parameter names, file names, labels) made safe to print.

A name can hold anything Python allows: ``'\\x1b[2J'`` clears a terminal, a newline breaks a
table's row or a CSV's line, a right-to-left override reverses what follows it. Everything
gradcli prints from a user goes through ``printable``, which writes such characters as the
escapes Python would (``\\x1b``, ``\\n``, ``\\u202e``) and leaves every other one as it is.
JSON lines need nothing: ``json.dumps`` escapes control characters itself.
"""

from __future__ import annotations

import unicodedata


def printable(text: str) -> str:
    """``text`` with what Python does not count printable written as escapes: control
    characters, line and paragraph separators, format characters (bidi overrides, zero-width
    ones), unassigned code points; spaces of any width are kept."""
    if text.isprintable():  # (the common case, at C speed)
        return text
    return "".join(
        c if c.isprintable() or unicodedata.category(c) == "Zs" else _escaped(c) for c in text
    )


def _escaped(char: str) -> str:
    code = ord(char)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
