"""``gradcli diff``'s output: words for a person (text), or one object per record pair
(jsonl), and the exit status, 0 (identical) or 1 (they differ)."""

from __future__ import annotations

import sys

from gradcli.diff import compare, first_lines, growth_lines, name_of, step_object
from gradcli.errors import GradcliError
from gradcli.render.numbers import dumps

FORMATS = ("text", "jsonl")


def run(a: str, b: str, fmt: str, quiet: bool) -> int:
    if fmt not in FORMATS:
        raise GradcliError(f"--format: unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if a == b == "-":
        raise GradcliError("A and B are both stdin (-): give at least one file")
    result = compare(a, b)
    if fmt == "jsonl":
        for s in result.steps:
            sys.stdout.write(dumps(step_object(s)) + "\n")
        words = first_lines(result, a, b) if not result.identical else []
        for line in words if not quiet else []:
            print(line, file=sys.stderr)
    elif not result.identical:
        for line in first_lines(result, a, b) + growth_lines(result):
            sys.stdout.write(line + "\n")
    if result.identical and not quiet:
        print(
            f"gradcli diff: {name_of(a)} and {name_of(b)} agree bit for bit: "
            f"{result.records} record" + "s" * (result.records != 1),
            file=sys.stderr,
        )
    return 0 if result.identical else 1
