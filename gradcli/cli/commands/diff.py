"""``gradcli diff A B``: two runs' JSON lines compared record by record, like cmp.

Words for a person (text: the first difference and how the gap grows) or one object per
record pair (jsonl) on stdout; exit status 0 (identical, or within ``--ulps``/``--rtol``/
``--atol``) or 1 (they differ, beyond it). The comparison itself is ``gradcli.diff``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gradcli.cli import options as opt
from gradcli.errors import GradcliError
from gradcli.output import Output

if TYPE_CHECKING:
    from gradcli.diff import Tolerance

EXAMPLES = opt.examples(
    "gradcli diff manual.jsonl optim.jsonl",
    "gradcli diff <(gradcli manual -o adam -f jsonl) <(gradcli optim -o adam --impl fused "
    "-f jsonl)",
    "gradcli diff manual.jsonl fused.jsonl --ulps 64",
    "gradcli diff script.jsonl optim.jsonl --rtol 1e-5 --atol 1e-8",
    "gradcli diff a.jsonl b.jsonl --format jsonl | jq -c 'select(.identical | not)'",
)
TOLERANCE_PANEL = "Tolerance (either suffices)"
DIFF_FORMATS = ("text", "jsonl")
DiffFormat = opt.format_option(
    *DIFF_FORMATS,
    help="text (the first difference and how the gap grows), jsonl (one object per record pair).",
)


def _bound(parser: Callable[[str], Any], metavar: str, help: str) -> Any:
    """A tolerance option: a number, none by default, in the tolerance's panel."""
    return typer.Option(
        parser=parser,
        metavar=metavar,
        show_default=False,
        rich_help_panel=TOLERANCE_PANEL,
        help=help,
    )


Ulps = Annotated[
    int | None,
    _bound(
        opt.integer,
        "N",
        "Numbers at most N ULPs apart agree, counted in the records' dtype (float32 or "
        "float64: their digits say).",
    ),
]
Rtol = Annotated[
    float | None,
    _bound(
        opt.real,
        "R",
        "Numbers agree when |A − B| <= atol + R·|B|, as numpy.isclose (atol 0 unless given).",
    ),
]
Atol = Annotated[
    float | None,
    _bound(opt.real, "A", "Numbers agree when |A − B| <= A + rtol·|B| (rtol 0 unless given)."),
]


def diff(
    a: Annotated[str, typer.Argument(metavar="A", help="JSON lines of one run (- is stdin).")],
    b: Annotated[str, typer.Argument(metavar="B", help="JSON lines of the other run.")],
    ulps: Ulps = None,
    rtol: Rtol = None,
    atol: Atol = None,
    format: DiffFormat = "text",
    quiet: opt.Quiet = False,
) -> None:
    output = opt.output_of(format, quiet, None, DIFF_FORMATS)
    raise typer.Exit(show_diff(a, b, output, tolerance_of(ulps, rtol, atol)))


def tolerance_of(ulps: int | None, rtol: float | None, atol: float | None) -> Tolerance | None:
    """The tolerance the options give (None: bit for bit); a negative or non-finite bound is
    one line and exit 2."""
    from gradcli.diff import Tolerance

    if ulps is not None and ulps < 0:
        raise GradcliError(f"--ulps {ulps}: give a whole number of ULPs >= 0")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise GradcliError(f"--{name} {value:g}: give a finite number >= 0")
    if ulps is None and rtol is None and atol is None:
        return None
    return Tolerance(ulps, rtol, atol)


def show_diff(a: str, b: str, output: Output, tolerance: Tolerance | None = None) -> int:
    """Compare the runs in ``a`` and ``b``, write what differs, and return the exit status:
    0 when they agree (bit for bit, or within ``tolerance``), else 1. With a tolerance, the
    largest gap goes to stderr either way."""
    from gradcli.diff import (
        agreement_line,
        compare,
        first_lines,
        growth_lines,
        step_object,
        worst_lines,
    )
    from gradcli.render.numbers import dumps

    if a == b == "-":
        raise GradcliError("A and B are both stdin (-): give at least one file")
    result = compare(a, b, tolerance)
    if output.format == "jsonl":
        for s in result.steps:
            sys.stdout.write(dumps(step_object(s, tolerance)) + "\n")
        for line in first_lines(result, a, b) if not result.agree else []:
            output.say(line)
    elif not result.agree:
        for line in first_lines(result, a, b) + growth_lines(result):
            sys.stdout.write(line + "\n")
    for line in worst_lines(result):
        output.say(line)
    if result.agree:
        output.say(agreement_line(result, a, b))
    return 0 if result.agree else 1
