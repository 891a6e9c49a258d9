"""Values and calls as a script writes them: Python literals that read back as the same
value, bit for bit, and calls laid out as ``ruff format`` lays them out."""

from __future__ import annotations

import json

LINE_LENGTH = 100  # the project's, and so the scripts' (ruff check, ruff format)


def literal(value: object) -> str:
    """``value`` as Python source that reads back as the same number (repr keeps every bit)."""
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return json.dumps(value)  # double quotes, as ruff format writes strings
    if isinstance(value, float):  # 1e38, as ruff format writes repr's 1e+38
        return repr(value).replace("e+", "e")
    return repr(value)


def call(function: str, arguments: list[str], indent: int) -> list[str]:
    """``function(arguments)`` as ruff format writes it at ``indent`` spaces (the lines are
    returned without them): on one line; else the arguments on one line of their own; else
    one argument a line, with a trailing comma."""
    line = f"{function}({', '.join(arguments)})"
    if indent + len(line) <= LINE_LENGTH:
        return [line]
    inner = ", ".join(arguments)
    if indent + 4 + len(inner) <= LINE_LENGTH:
        return [f"{function}(", f"    {inner}", ")"]
    return [f"{function}(", *(f"    {a}," for a in arguments), ")"]
