"""Python source as ``ruff format`` and ruff's isort write it, for a printed script: values as
literals, calls broken as the formatter breaks them, import lines sorted. No torch here."""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterable


def literal(value: object) -> str:
    """``value`` as Python source that reads back as the same value: a number by ``repr``
    (every bit survives), a string double-quoted (as ruff format writes strings)."""
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def call(start: str, arguments: list[str], indent: int = 0, width: int = 100) -> list[str]:
    """``start(arguments)`` (``start`` may be ``target = function``) at ``indent`` spaces, as
    ruff format lays it out: on one line; else the arguments on one line of their own; else
    one argument a line, each with its comma."""
    pad = " " * indent
    line = f"{pad}{start}({', '.join(arguments)})"
    if len(line) <= width:
        return [line]
    inner = f"{pad}    {', '.join(arguments)}"
    if len(inner) <= width:
        return [f"{pad}{start}(", inner, f"{pad})"]
    return [f"{pad}{start}(", *(f"{pad}    {a}," for a in arguments), f"{pad})"]


def import_lines(lines: Iterable[str]) -> list[str]:
    """Import lines as ruff's isort lays them out: Python's own modules, then the others, a
    blank line apart; in each, ``import x`` lines before ``from x import ...`` ones, sorted,
    the names one module gives merged into one line."""
    plain: dict[bool, set[str]] = {True: set(), False: set()}
    given: dict[tuple[bool, str], set[str]] = {}
    for line in lines:
        (statement,) = ast.parse(line).body
        assert isinstance(statement, ast.Import | ast.ImportFrom)
        top = (getattr(statement, "module", None) or statement.names[0].name).split(".")[0]
        own = top in sys.stdlib_module_names
        if isinstance(statement, ast.Import):
            plain[own].add(line)
        else:
            given.setdefault((own, statement.module or ""), set()).update(
                ast.unparse(alias) for alias in statement.names
            )
    sections = []
    for own in (True, False):
        section = sorted(plain[own], key=str.lower)
        for (mine, module), names in sorted(given.items(), key=lambda k: k[0][1].lower()):
            if mine is own:
                section.append(f"from {module} import {', '.join(sorted(names, key=_by_type))}")
        if section:
            sections.append("\n".join(section))
    return "\n\n".join(sections).splitlines()


def _by_type(name: str) -> tuple[int, str]:
    """isort's order of imported names: CONSTANTS, then Classes, then the rest."""
    if name.isupper() and len(name) > 1:
        return 0, name
    return (1 if name[:1].isupper() else 2), name
