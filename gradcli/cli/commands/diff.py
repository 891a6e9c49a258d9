"""``gradcli diff A B``: two runs' JSON lines compared record by record, like cmp.

Words for a person (text: the first difference and how the gap grows) or one object per
record pair (jsonl) on stdout; exit status 0 (identical) or 1 (they differ). The comparison
itself is ``gradcli.diff``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gradcli.cli import options as opt
from gradcli.errors import GradcliError
from gradcli.output import Output

HELP = (
    "Compare two runs' JSON lines record by record, like cmp: exit 0 when every record "
    "agrees bit for bit, 1 at the first difference (the step, parameter, field, both values, "
    "the gap in absolute terms and ULPs), then how the gap grows."
)
EXAMPLES = opt.examples(
    "gradcli diff manual.jsonl optim.jsonl",
    "gradcli diff <(gradcli manual -o adam -f jsonl) <(gradcli optim -o adam --impl fused "
    "-f jsonl)",
    "gradcli diff a.jsonl b.jsonl --format jsonl | jq -c 'select(.identical | not)'",
)
DIFF_FORMATS = ("text", "jsonl")
DiffFormat = opt.format_option(
    *DIFF_FORMATS,
    help="text (the first difference and how the gap grows), jsonl (one object per record pair).",
)


def diff(
    a: Annotated[str, typer.Argument(metavar="A", help="JSON lines of one run (- is stdin).")],
    b: Annotated[str, typer.Argument(metavar="B", help="JSON lines of the other run.")],
    format: DiffFormat = "text",
    quiet: opt.Quiet = False,
) -> None:
    output = opt.output_of(format, quiet, None, DIFF_FORMATS)
    raise typer.Exit(show_diff(a, b, output))


def show_diff(a: str, b: str, output: Output) -> int:
    """Compare the runs in ``a`` and ``b``, write what differs, and return the exit status."""
    from gradcli.diff import compare, first_lines, growth_lines, name_of, step_object
    from gradcli.render.numbers import dumps

    if a == b == "-":
        raise GradcliError("A and B are both stdin (-): give at least one file")
    result = compare(a, b)
    if output.format == "jsonl":
        for s in result.steps:
            sys.stdout.write(dumps(step_object(s)) + "\n")
        for line in first_lines(result, a, b) if not result.identical else []:
            output.say(line)
    elif not result.identical:
        for line in first_lines(result, a, b) + growth_lines(result):
            sys.stdout.write(line + "\n")
    if result.identical:
        output.say(
            f"gradcli diff: {name_of(a)} and {name_of(b)} agree bit for bit: "
            f"{result.records} record" + "s" * (result.records != 1)
        )
    return 0 if result.identical else 1
