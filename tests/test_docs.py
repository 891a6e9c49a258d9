"""Every `console` example in README.md and docs/*.md is a real command with its real output.

Each example is run at 80 columns (``COLUMNS=80``, what the documents say they show) and what
it prints is compared with the document: its structure exactly, its numbers within
tolerances. float32 results differ in the last digits between CPUs (AVX2 or AVX-512 kernels,
the order of a BLAS reduction) though they are identical run to run on one machine, so a
digit-for-digit comparison only passes on the machine that wrote the documents.

To re-render the examples of a document from what the commands print now (after a change of
output; never edit the numbers by hand):

    PYTHONPATH=. python tests/test_docs.py README.md docs/compare.md

Structure (must match exactly)
    Every character that is not part of a number: words, punctuation, `—`, `0 (bit-identical)`,
    the number of lines, of tables, of table rows and columns, of plot rows. Numbers are
    found by ``NUMBER`` (decimal and exponent forms, a sign, `nan`, `inf`, `Infinity`); a
    digit inside a word (`float32`, `β1`, `16x2`, `2.13.0`) is text. Whitespace: a single
    space is text; a run of two or more spaces next to a number (the padding of a column
    whose width follows its numbers) may change length but stays a run of two or more.
    Tables (a header over a `───` rule) are compared cell by cell: the columns are found
    from where every line has a gap of two or more spaces, and a row wrapped over several
    lines is joined, so a wider number that moves a column or re-wraps a cell is not a
    difference. Plots: axis labels are numbers, and each marker may sit one row higher or
    lower (a value next to a row boundary), or be in a cell it shares with another series
    (``&``) or alone where the document shows one.

Numbers
    Integers (both written without `.` or exponent: steps, shapes, counts, `[0]`) must be
    equal; so must `steps to tol` (in the documented `compare`, the loss one step before it
    reaches `--tol` is 0.2% or more above it, far more than rounding moves it). Non-finite
    values must be spelled the same. Every other pair `e` (documented), `s` (shown) must
    satisfy ``|e - s| <= q + rel * max(|e|, |s|) + floor * scale``, where
    - ``q`` is the rounding of the printed digits (half a unit of the 6th significant digit,
      or of the last digit shown for fixed-point numbers and the 3-digit plot labels);
    - ``rel, floor`` = ``1e-3, 1e-6`` for float32 and ``1e-9, 1e-12`` for `--dtype float64`;
    - ``scale`` is the largest magnitude among the non-integer numbers of the same table
      (or of the same line outside a table).
    Why: float32 rounds at 6e-8 relative; after up to 100 steps, a different rounding of one
    operation has grown to ~1e-4 relative in the documented examples (1.3e-3 for a gradient near
    zero at the optimum). A value that is a difference of larger ones (a gradient near the
    optimum, an update of 5.96e-08 where another CPU rounds to 0: half a float32 ULP of 1.0)
    carries an absolute error of a few ULPs of those larger values, hence the floor: 1e-6 is
    8 to 16 float32 ULPs of the table's largest value. A 1% difference (a changed learning
    rate, rule or bug) is still far outside these tolerances.
    Two kinds of numbers get their own rule:
    - a gap between two computations (a column headed `max |...|`, `ULPs`, or a number after
      `max |difference|`): 0 is a claim (bit-identical) and must stay 0; in float32 a nonzero
      gap (fused Adam vs the for-loop: 3.87e-07 / 16512 ULPs here, 4.77e-07 / 20992 on another
      CPU) depends on the CPU's kernels, so it must stay nonzero and within a factor of 10.
      In float64, gaps follow the number rules above (ULP counts exactly).
    - `gradcli compare`'s `final loss` and `best loss` in float32: the end of a 100-step run of
      an adaptive optimizer still oscillating about the minimum, where rounding moves where it
      stops (rmsprop 0.0112004 here, 0.0112303 on another CPU): 1e-2 relative.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gradcli.pictures.plot import OVERLAP

ROOT = Path(__file__).resolve().parent.parent
WIDTH = "80"  # the terminal width every example is rendered at, as README.md says


def documents() -> list[Path]:
    """README.md and every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass
class Example:
    command: str
    expected: list[str]
    line: int  # the document's line number of the command
    document: str = "README.md"  # relative to the repository's root

    def __str__(self) -> str:  # the test's id: where it is, what it runs
        return f"{self.document}:{self.line} {self.command[8:60]}"


def examples(path: Path = ROOT / "README.md") -> list[Example]:
    """Each `$ ...` line of a console block, with the lines under it."""
    found: list[Example] = []
    current: Example | None = None
    inside = False
    document = path.relative_to(ROOT).as_posix()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not inside:
            inside = line == "```console"
            continue
        if line.startswith("```"):
            inside, current = False, None
        elif line.startswith("$ "):
            current = Example(line[2:], [], number, document)
            found.append(current)
        elif current is not None:
            current.expected.append(line.rstrip())
    return found


def all_examples() -> list[Example]:
    return [e for path in documents() for e in examples(path)]


def runnable(command: str) -> bool:
    return command.startswith("gradcli ") and "|" not in command


# --- comparing printed output with tolerances ------------------------------------------------

NUMBER = re.compile(
    r"(?<![\w.])-?(?:\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|inf(?:inity)?|nan)(?![^\W²³]|\.\d)",
    re.IGNORECASE,
)
INTEGER = re.compile(r"-?\d+")
RULE = re.compile(r" *─{3,} *")
PLOT_ROW = re.compile(r"(?P<label> *\S*) (?P<axis>[┤│])(?P<canvas>.*)")
PLOT_AXIS = re.compile(r" *└─+")
GAP_BEFORE = re.compile(r"max \|[^|]*\| $")
GAP_HEADER = re.compile(r"max \|.*\||ULPs")
LOSS_AFTER_RUN = {"final loss", "best loss"}

TOLERANCE = {"float32": (1e-3, 1e-6), "float64": (1e-9, 1e-12)}


def tokens(text: str) -> tuple[list[str], list[str]]:
    """The text around the numbers (one more piece than numbers), and the numbers."""
    pieces, numbers, at = [], [], 0
    for match in NUMBER.finditer(text):
        pieces.append(text[at : match.start()])
        numbers.append(match.group())
        at = match.end()
    pieces.append(text[at:])
    return pieces, numbers


def skeleton(pieces: list[str]) -> list[str]:
    """The text between numbers, a run of 2+ spaces next to a number made "  "."""
    out = []
    for i, piece in enumerate(pieces):
        if i > 0:
            piece = re.sub(r"^ {2,}", "  ", piece)
        if i < len(pieces) - 1:
            piece = re.sub(r" {2,}$", "  ", piece)
        out.append(piece)
    return out


def last_digit(text: str) -> float:
    """The place value of the last digit written: 0.01 for "0.0112", 1 for "16"."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def printed_rounding(text: str) -> float:
    """Half the rounding step of a printed float: the 6th significant digit for %g (which
    drops trailing zeros, so "2" means 2.00000), the last digit for fixed point ("0.000000")."""
    value = abs(float(text))
    if value == 0:
        return last_digit(text) / 2 if "." in text else 0.0
    return min(last_digit(text), 10.0 ** (math.floor(math.log10(value)) - 5)) / 2


def scale_of(texts: list[str]) -> float:
    """The largest magnitude among the non-integer finite numbers in ``texts``."""
    values = [
        abs(float(n))
        for t in texts
        for n in tokens(t)[1]
        if not INTEGER.fullmatch(n) and math.isfinite(float(n))
    ]
    return max(values, default=0.0)


def number_problem(e: str, s: str, *, kind: str, dtype: str, scale: float) -> str | None:
    """Why the shown number ``s`` does not stand for the README's ``e``; None if it does.

    ``kind``: "value", "gap" (a difference between two computations), "loss after run"
    (`compare`'s final and best loss) or "label" (a plot's axis label, 3 digits).
    """
    x, y = float(e), float(s)
    if not (math.isfinite(x) and math.isfinite(y)):
        return None if e == s else f"{e} expected, {s} shown: non-finite values must be equal"
    if kind == "gap" and dtype == "float32":
        if x == 0 or y == 0:
            if x == y:
                return None
            return (
                f"{e} expected, {s} shown: a gap of 0 (bit-identical) must stay 0, "
                "and a nonzero gap nonzero"
            )
        if 0.1 <= y / x <= 10:
            return None
        return f"{e} expected, {s} shown: a float32 gap may vary by CPU, but within a factor of 10"
    if kind != "label" and INTEGER.fullmatch(e):
        if INTEGER.fullmatch(s):
            return None if int(e) == int(s) else f"{e} expected, {s} shown: integers must be equal"
        if y == int(y):  # "50.0" where the README has "50": not the way %g writes a float
            return f"{e} expected, {s} shown: an integer written as a float"
    rel, floor = TOLERANCE[dtype]
    if kind == "loss after run" and dtype == "float32":
        rel = 1e-2
    if kind == "label":
        rounding = last_digit(e) / 2 + last_digit(s) / 2
    else:
        rounding = printed_rounding(e) + printed_rounding(s)
    allowed = rounding + rel * max(abs(x), abs(y)) + floor * scale
    if abs(x - y) <= allowed:
        return None
    return (
        f"{e} expected, {s} shown: off by {abs(x - y):.3g}, allowed {allowed:.3g} "
        f"({dtype}: {rel:g} relative + {floor:g} × scale {scale:.6g} + printed rounding)"
    )


def text_problems(
    e: str, s: str, *, dtype: str, scale: float, kind: str | None = None
) -> list[str]:
    """How the shown text ``s`` differs from ``e``: its text, its count of numbers, or a
    number out of tolerance. ``kind`` applies to every number; otherwise a number after
    `max |...|` is a gap and the others are values."""
    e_pieces, e_numbers = tokens(e)
    s_pieces, s_numbers = tokens(s)
    if skeleton(e_pieces) != skeleton(s_pieces):
        return [f"the text differs: expected {e.strip()!r}, shown {s.strip()!r}"]
    problems = []
    for piece, a, b in zip(e_pieces, e_numbers, s_numbers, strict=False):
        this = kind or ("gap" if GAP_BEFORE.search(piece) else "value")
        problem = number_problem(a, b, kind=this, dtype=dtype, scale=scale)
        if problem:
            problems.append(problem)
    return problems


@dataclass
class Block:
    """Lines compared together: one "line", a "table" (header, rule, body) or a "plot"."""

    kind: str
    start: int  # index of its first line in the output
    lines: list[str]
    rule: int = -1  # for a table: the index of its rule line in ``lines``
    rows: list[tuple[int, list[str]]] = field(default_factory=list)  # table: (line, cells)


def blocks(lines: list[str]) -> list[Block]:
    found: list[Block] = []
    i = 0
    while i < len(lines):
        if "┤" in lines[i] and PLOT_ROW.fullmatch(lines[i]):
            j = i
            while j < len(lines) and PLOT_ROW.fullmatch(lines[j]):
                j += 1
            if j < len(lines) and PLOT_AXIS.fullmatch(lines[j]):
                j += 1
            found.append(Block("plot", i, lines[i:j]))
            i = j
            continue
        j = i  # a table: non-blank header lines, then a rule, then the body up to a blank line
        while j < len(lines) and lines[j].strip() and not RULE.fullmatch(lines[j]):
            j += 1
        if j < len(lines) and RULE.fullmatch(lines[j]):
            end = j + 1
            while end < len(lines) and lines[end].strip():
                end += 1
            found.append(table(Block("table", i, lines[i:end], rule=j - i)))
            i = end
            continue
        found.append(Block("line", i, [lines[i]]))
        i += 1
    return found


def table(block: Block) -> Block:
    """Fill ``block.rows``: the header as one row, then each body row, wrapped lines joined."""
    text = [line for k, line in enumerate(block.lines) if k != block.rule]
    width = max(map(len, text), default=0)
    blank = [all(i >= len(line) or line[i] == " " for line in text) for i in range(width)]
    spans: list[list[int]] = []  # runs of columns apart by at least two blank positions
    for i in range(width):
        if blank[i]:
            continue
        if spans and i - spans[-1][1] <= 1:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in spans]

    def join(parts: list[list[str]]) -> list[str]:
        return [" ".join(p for p in column if p) for column in zip(*parts, strict=True)]

    header = [cells(line) for line in block.lines[: block.rule]]
    block.rows = [(0, join(header))] if header else []
    body: list[tuple[int, list[list[str]]]] = []
    for k in range(block.rule + 1, len(block.lines)):
        row = cells(block.lines[k])
        if row and (row[0] or not body):
            body.append((k, [row]))
        else:
            body[-1][1].append(row)
    block.rows += [(k, join(parts)) for k, parts in body]
    return block


def plot_problems(e: Block, s: Block, *, dtype: str) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    e_rows = [PLOT_ROW.fullmatch(line) for line in e.lines]
    s_rows = [PLOT_ROW.fullmatch(line) for line in s.lines]
    e_marks: dict[tuple[int, int], str] = {}
    s_marks: dict[tuple[int, int], str] = {}
    for r, (a, b) in enumerate(zip(e_rows, s_rows, strict=True)):
        if a is None or b is None:  # the x axis
            if e.lines[r] != s.lines[r]:
                problems.append((r, "the plot's axis differs"))
            continue
        if a["axis"] != b["axis"]:
            problems.append((r, "the plot's axis differs"))
        label_e, label_s = a["label"].strip(), b["label"].strip()
        if bool(label_e) != bool(label_s) or (
            label_e and not (NUMBER.fullmatch(label_e) and NUMBER.fullmatch(label_s))
        ):
            problems.append((r, f"axis label {label_e!r} expected, {label_s!r} shown"))
        elif label_e:
            problem = number_problem(label_e, label_s, kind="label", dtype=dtype, scale=0)
            if problem:
                problems.append((r, f"axis label {problem}"))
        e_marks.update({(r, c): m for c, m in enumerate(a["canvas"]) if m != " "})
        s_marks.update({(r, c): m for c, m in enumerate(b["canvas"]) if m != " "})

    def stray(marks: dict, other: dict) -> list[tuple[int, int]]:
        """Marks with the same marker neither here nor one row up or down in ``other``; a
        cell several series share (OVERLAP) may be one of them alone on another CPU."""

        def near(r: int, c: int) -> set:
            return {other.get((r + d, c)) for d in (-1, 0, 1)} - {None}

        return [
            (r, c)
            for (r, c), m in marks.items()
            if not (near(r, c) & {m, OVERLAP} or (m == OVERLAP and near(r, c)))
        ]

    for r, c in stray(s_marks, e_marks):
        problems.append((r, f"plot marker {s_marks[r, c]!r} at column {c} is not in the README"))
    for r, c in stray(e_marks, s_marks):
        problems.append((r, f"plot marker {e_marks[r, c]!r} at column {c} is missing"))
    if set(e_marks.values()) - {OVERLAP} != set(s_marks.values()) - {OVERLAP}:
        problems.append((0, "the plot's markers differ"))
    return problems


def first_different_text(expected: list[str], shown: list[str]) -> int:
    """The index of the first line whose text (numbers and spaces aside) differs."""

    def text(line: str) -> str:
        return " ".join("#".join(tokens(line)[0]).split())

    pairs = zip(expected, shown, strict=False)
    end = min(len(expected), len(shown))
    return next((i for i, (a, b) in enumerate(pairs) if text(a) != text(b)), end)


def output_problems(expected: list[str], shown: list[str], *, dtype: str) -> list[str]:
    """Each way ``shown`` does not stand for ``expected`` (README lines), as "line N: why"
    (N counts the expected lines from 1); empty if it does."""
    e_blocks, s_blocks = blocks(expected), blocks(shown)

    def layout(bs: list[Block]) -> list[tuple[str, int]]:
        return [(b.kind, 0 if b.kind == "table" else len(b.lines)) for b in bs]

    if layout(e_blocks) != layout(s_blocks):
        at = first_different_text(expected, shown)
        if at >= min(len(expected), len(shown)):
            pairs = zip(e_blocks, s_blocks, strict=False)
            at = next((a.start for a, b in pairs if layout([a]) != layout([b])), at)
        return [
            f"line {at + 1}: the lines differ from here on "
            f"(expected {expected[at] if at < len(expected) else '<end of output>'!r}, "
            f"shown {shown[at] if at < len(shown) else '<end of output>'!r}; "
            f"{len(expected)} lines expected, {len(shown)} shown)"
        ]
    problems: list[str] = []
    for e, s in zip(e_blocks, s_blocks, strict=True):
        if e.kind == "line":
            scale = scale_of(e.lines)
            for p in text_problems(e.lines[0], s.lines[0], dtype=dtype, scale=scale):
                problems.append(f"line {e.start + 1}: {p}")
        elif e.kind == "plot":
            for r, p in plot_problems(e, s, dtype=dtype):
                problems.append(f"line {e.start + r + 1}: {p}")
        else:
            problems += table_problems(e, s, dtype=dtype)
    return problems


def table_problems(e: Block, s: Block, *, dtype: str) -> list[str]:
    columns = len(e.rows[0][1]) if e.rows else 0
    if [len(cells) for _, cells in e.rows] != [len(cells) for _, cells in s.rows]:
        return [
            f"line {e.start + 1}: the table differs: {len(e.rows)} rows of {columns} columns "
            f"expected, shown {len(s.rows)} rows of {len(s.rows[0][1]) if s.rows else 0}"
        ]
    header = e.rows[0][1] if e.rule > 0 else [""] * columns
    scale = scale_of([cell for _, cells in e.rows[1 if e.rule > 0 else 0 :] for cell in cells])
    problems = []
    for (k, e_cells), (_, s_cells) in zip(e.rows, s.rows, strict=True):
        for name, a, b in zip(header, e_cells, s_cells, strict=True):
            kind = None
            if k > 0 and GAP_HEADER.fullmatch(name):
                kind = "gap"
            elif k > 0 and name in LOSS_AFTER_RUN:
                kind = "loss after run"
            for p in text_problems(a, b, dtype=dtype, scale=scale, kind=kind):
                where = f", column {name!r}" if name and k > 0 else ""
                problems.append(f"line {e.start + k + 1}{where}: {p}")
    return problems


def explain(
    command: str,
    readme_line: int,
    expected: list[str],
    shown: list[str],
    problems: list[str],
    document: str = "README.md",
) -> str:
    """The failure message: each problem (with its document and line), then a diff."""

    def where(p: str) -> str:
        number, rest = re.fullmatch(r"line (\d+)(.*)", p, flags=re.S).groups()
        return f"{document}:{readme_line + int(number)}{rest}"

    diff = list(difflib.unified_diff(expected, shown, document, "shown", n=1, lineterm=""))
    return "\n".join(
        [f"`{command}` does not print what {document} shows:"]
        + [f"  {where(p)}" for p in problems[:20]]
        + ([f"  ... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        + [""]
        + diff[:60]
    )


# --- the examples ----------------------------------------------------------------------------


def arguments(example: Example) -> tuple[list[str], bool]:
    """The example's arguments after `gradcli`, and whether its stdout goes to /dev/null."""
    command = example.command.split("  #")[0]
    to_devnull = command.endswith("> /dev/null")
    return shlex.split(command.removesuffix("> /dev/null"))[1:], to_devnull


def output_of(example: Example, invoke: Callable[..., Any]) -> list[str]:
    """What the example's command prints at ``WIDTH`` columns: stdout (unless sent to
    /dev/null), then stderr; trailing spaces and blank lines dropped."""
    args, to_devnull = arguments(example)
    if args[0] == "ddp":  # worker processes write to the real stdout: run it for real
        done = subprocess.run(
            [sys.executable, "-m", "gradcli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": WIDTH},
            timeout=180,
        )
        stdout, stderr = done.stdout, done.stderr
    else:
        result = invoke(*args, COLUMNS=WIDTH)
        stdout, stderr = result.stdout, result.stderr
    shown = ([] if to_devnull else stdout.splitlines()) + stderr.splitlines()
    shown = [line.rstrip() for line in shown]
    while shown and not shown[-1]:
        shown.pop()
    return shown


def shows_the_cpu_only_message(example: Example) -> bool:
    args, _ = arguments(example)
    return "--device" in args and "cuda" in args[args.index("--device") + 1]


@pytest.mark.slow
@pytest.mark.parametrize("example", [e for e in all_examples() if runnable(e.command)], ids=str)
def test_documented_example(invoke, example):
    if shows_the_cpu_only_message(example):
        pytest.skip("shows the CPU-only message")
    shown = output_of(example, invoke)
    expected = list(example.expected)
    while expected and not expected[-1]:
        expected = expected[:-1]
    if expected and expected[-1] == "…":  # the document shows the start of the output
        expected = expected[:-1]
        shown = shown[: len(expected)]
    args, _ = arguments(example)
    dtype = "float64" if "float64" in args else "float32"
    problems = output_problems(expected, shown, dtype=dtype)
    assert not problems, explain(
        example.command, example.line, expected, shown, problems, example.document
    )


def test_every_console_command_is_run():
    """A `$` line in a console block is a gradcli command the test above runs; a pipeline or
    another program goes in an `sh` block, its output as comments."""
    others = [f"{e.document}:{e.line}" for e in all_examples() if not runnable(e.command)]
    assert others == []


def test_the_documents_have_examples_for_every_command():
    commands = {shlex.split(e.command)[1] for e in all_examples()}
    every = "optim manual compare optimizers schedule params graph pitfalls ddp lr-find"
    assert set(every.split()) <= commands


def test_the_readme_tours_the_main_commands():
    commands = {shlex.split(e.command)[1] for e in examples(ROOT / "README.md")}
    assert {"optim", "compare"} <= commands


def test_the_readme_installs_torchs_cpu_build_beside_the_default():
    """PyPI's torch on Linux is the CUDA build (5.5 GB in the trial, on a machine without a
    GPU): the quick start shows PyTorch's own command for the CPU-only build, names the torch
    that pyproject.toml requires, and keeps the two commands CI looks for."""
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    lines = quick_start.splitlines()
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in lines
    assert "pip install . && gradcli optim --steps 100" in lines
    assert "pip install -e '.[test]' && python -m pytest" in lines
    floor = re.search(r'"torch>=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert floor and f"torch {floor.group(1)} or newer" in " ".join(lines)


# --- the comparison itself -------------------------------------------------------------------

OPTIM = """\
step 50/100   loss 0.0112003

  parameter       shape   value                    grad                     update
 ──────────────────────────────────────────────────────────────────────────────────────────────────
  linear.weight   1×3     [2.00221, -2.99473,      [0.000312682,            [-3.12328e-05,
                          0.497814]                0.00116654,              -0.000116587,
                                                   -0.000854893]            8.55029e-05]
  linear.bias     1       [0.989381]               [-0.000853912]           [8.54135e-05]

step 100/100   loss 0.0111993

  parameter       shape   value                     grad                       update
 ──────────────────────────────────────────────────────────────────────────────────────────────────
  linear.weight   1×3     [2.00196, -2.99542,       [1.0055e-06,               [0, 0, 2.98023e-08]
                          0.498275]                 1.00557e-06,
                                                    -1.68553e-07]
  linear.bias     1       [0.989884]                [-2.78465e-07]             [0]

loss, grad: before this step's update · value: after it · update = after − before""".splitlines()

COMPARE = """\
  optimizer   lr     final loss   best loss   steps to tol   max |manual − optim|   ULPs
 ────────────────────────────────────────────────────────────────────────────────────────
  sgd         0.1    0.0111993    0.0111993   21             0 (bit-identical)      0
  rmsprop     0.05   0.0112004    0.0112001   45             0 (bit-identical)      0
  adam        0.01   0.063557     0.063557    —              3.8743e-07             16512

losses: torch.optim path · max |manual − optim|: largest gap between the two paths'
loss (log scale)
      16 ┤oxxx
         │ oo xxxxx
         │   oo    xxxx
    0.32 ┤    ooo      xxxx
         │    •• ooo       xxx
  0.0112 ┤      ••  ooo       xxxx
         └──────────────────────────
gradcli: ddp vs one process on the full batch: max |difference| 5.96e-08""".splitlines()


def edited(lines: list[str], old: str, new: str) -> list[str]:
    """``lines`` with the one occurrence of ``old`` replaced by ``new``; where a column's
    padding follows (2+ spaces), it takes up the difference in width, as in a table."""
    text = "\n".join(lines)
    assert text.count(old) == 1, old
    start, end = text.index(old), text.index(old) + len(old)
    spaces = len(text[end:]) - len(text[end:].lstrip(" "))
    if spaces >= 2 and text[end + spaces : end + spaces + 1] not in ("", "\n"):
        end += spaces
        new = new + " " * max(len(old) + spaces - len(new), 2)
    return (text[:start] + new + text[end:]).splitlines()


def problems_after(lines: list[str], *edits: tuple[str, str]) -> list[str]:
    shown = lines
    for old, new in edits:
        shown = edited(shown, old, new)
    return output_problems(lines, [line.rstrip() for line in shown], dtype="float32")


@pytest.mark.parametrize(
    ("lines", "edits"),
    [
        # issue 15: the step-50 gradient, and a bias update of half a float32 ULP of 1.0
        (OPTIM, [("0.000312682", "0.000313086"), ("0.00116654,", "0.0011664,")]),
        (OPTIM, [("-0.000854893]", "-0.000855024]"), ("[0]", "[5.96046e-08]")]),
        # at the optimum the gradient is rounding noise: a few float32 ULPs of the weights
        (OPTIM, [("[1.0055e-06,", "[1.2113e-06,"), ("-1.68553e-07]", "3.57628e-07]")]),
        # a wider number re-wraps a cell
        (OPTIM, [("[2.00221, -2.99473,", "[2.00221,"), ("  0.497814]", "  -2.99473, 0.497814]")]),
        # issue 15: rmsprop's final and best loss; fused Adam's gap
        (COMPARE, [("0.0112004    0.0112001", "0.0112303    0.0112011")]),
        (COMPARE, [("3.8743e-07             16512", "4.76837e-07            20992")]),
        # the same with torch's default (non-SIMD) kernels: ATEN_CPU_CAPABILITY=default
        (COMPARE, [("0.063557     0.063557", "0.0635571    0.0635571"), ("16512", "6416")]),
        # ddp vs one process, one float32 ULP of 1.0 further apart
        (COMPARE, [("5.96e-08", "1.19e-07")]),
        # a plot marker one row lower; the label of the lowest loss rounds to another digit
        (COMPARE, [("│ oo xxxxx", "│  o xxxxx"), ("│   oo    xxxx", "│ o oo    xxxx")]),
        (COMPARE, [("  0.0112 ┤", "  0.0113 ┤")]),
        # a cell two series share on one CPU holds one of them alone on another, and back
        (COMPARE, [("│    •• ooo", "│    •& ooo"), ("┤oxxx", "┤&xxx")]),
        (["step 3: the loss is inf"], []),
    ],
)
def test_the_comparison_accepts_another_cpus_rounding(lines, edits):
    assert problems_after(lines, *edits) == []


@pytest.mark.parametrize(
    ("lines", "edits", "problem"),
    [
        (OPTIM, [("after it", "before it")], "line 19: the text differs"),
        (OPTIM, [("step 50/100", "step 51/100")], "line 1: 50 expected, 51 shown: integers"),
        (OPTIM, [("step 50/100", "step 50.0/100")], "line 1: 50 expected, 50.0 shown: an integer"),
        (
            OPTIM,
            [("loss 0.0112003", "loss 0.012320")],
            "line 1: 0.0112003 expected, 0.012320 shown: off by 0.00112",
        ),
        (OPTIM, [("[0.989884]", "[1.08887]")], "line 17, column 'value': 0.989884 expected"),
        (
            OPTIM,
            [("[-2.78465e-07]", "[-2.78465e-05]")],
            "line 17, column 'grad': -2.78465e-07 expected",
        ),
        (OPTIM, [("1×3     [2.00221", "1×4     [2.00221")], "line 5, column 'shape': 3 expected"),
        (COMPARE, [("rmsprop     0.05   0.0112004", "rmsprop     0.05   0.0123204")], "line 4"),
        (COMPARE, [("21  ", "22  ")], "line 3, column 'steps to tol': 21 expected, 22 shown"),
        (
            COMPARE,
            [("0 (bit-identical)      0\n  rmsprop", "0 (identical)          0\n  rmsprop")],
            "line 3, column 'max |manual − optim|': the text differs: expected '0 (bit-identical)'",
        ),
        (
            COMPARE,
            [("0 (bit-identical)      0\n  rmsprop", "1.19209e-07            1\n  rmsprop")],
            "line 3, column 'max |manual − optim|': the text differs",
        ),
        (COMPARE, [("16512", "0")], "line 5, column 'ULPs': 16512 expected, 0 shown"),
        (
            COMPARE,
            [("16512", "312")],
            "line 5, column 'ULPs': 16512 expected, 312 shown: a float32",
        ),
        (COMPARE, [("5.96e-08", "0")], "line 16: 5.96e-08 expected, 0 shown: a gap of 0"),
        (
            COMPARE,
            [("│   oo    xxxx", "│   o     xxxx"), ("│ oo xxxxx", "│ oo xxxxx  o")],
            "line 10: plot marker 'o' at column 11 is not in the README",
        ),
        (COMPARE, [("  0.0112 ┤", "  0.0124 ┤")], "line 14: axis label 0.0112 expected, 0.0124"),
        (["the loss is inf"], [("inf", "nan")], "line 1: inf expected, nan shown: non-finite"),
        (["the loss is inf"], [("inf", "Infinity")], "line 1: inf expected, Infinity shown"),
    ],
)
def test_the_comparison_rejects_other_output(lines, edits, problem):
    problems = problems_after(lines, *edits)
    assert problems and problems[0].startswith(problem), problems


@pytest.mark.parametrize(
    ("drop", "problem"),
    [
        (2, "line 2: the lines differ from here on (expected '', shown '  parameter"),
        (10, "line 10: the lines differ from here on (expected 'step 100/100   loss 0.0111993'"),
        (19, 'line 19: the lines differ from here on (expected "loss, grad: before'),
        # a line of a table row: that row's cells lack what it held
        (6, "line 5, column 'value': the text differs: expected '[2.00221, -2.99473, 0.497814]'"),
        (8, "line 3: the table differs: 3 rows of 5 columns expected, shown 2 rows of 5"),
    ],
)
def test_the_comparison_rejects_a_missing_line(drop, problem):
    shown = OPTIM[: drop - 1] + OPTIM[drop:]
    problems = output_problems(OPTIM, shown, dtype="float32")
    assert problems and problems[0].startswith(problem), problems


def test_float64_is_held_to_float64_rounding():
    assert output_problems(["loss 0.0111993"], ["loss 0.0111995"], dtype="float64")
    assert not output_problems(["loss 0.0111993"], ["loss 0.0111995"], dtype="float32")
    # "0.123457" is 0.1234565 rounded: within float64 rounding of 0.123456 printed from 0.12345649
    assert not output_problems(["x 0.123457"], ["x 0.123456"], dtype="float64")


def test_the_failure_message_names_the_readme_line_and_the_number():
    shown = edited(OPTIM, "loss 0.0111993", "loss 0.0133")
    message = explain(
        "gradcli optim", 40, OPTIM, shown, output_problems(OPTIM, shown, dtype="float32")
    )
    assert "README.md:50: 0.0111993 expected, 0.0133 shown: off by 0.0021," in message
    assert "-step 100/100   loss 0.0111993" in message
    assert "+step 100/100   loss 0.0133" in message


def test_a_failure_names_the_page_and_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text("# A page\n\n```console\n$ gradcli optim\n" + "\n".join(OPTIM) + "\n```\n")
    (example,) = examples(page)
    assert (example.document, example.line, example.expected) == ("docs/page.md", 4, OPTIM)
    shown = edited(OPTIM, "loss 0.0111993", "loss 0.0133")
    problems = output_problems(example.expected, shown, dtype="float32")
    message = explain(
        example.command, example.line, example.expected, shown, problems, example.document
    )
    assert message.startswith("`gradcli optim` does not print what docs/page.md shows:")
    assert "docs/page.md:14: 0.0111993 expected, 0.0133 shown" in message


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub makes for a page's headings (code blocks aside)."""
    found, inside = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_the_links_between_pages_resolve():
    broken = []
    for path in documents():
        for target in LINK.findall(path.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists() or (anchor and anchor not in anchors(linked)):
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == []


# --- re-rendering a document's examples ------------------------------------------------------


def render(path: Path, invoke: Callable[..., Any]) -> int:
    """Rewrite the output under each runnable `$ gradcli ...` line of ``path`` with what the
    command prints now; an example that ends in `…` keeps the same start (up to its last
    line's text, or as many lines). Returns how many examples were rendered."""
    lines = path.read_text().splitlines()
    done = 0
    for example in reversed(examples(path)):  # from the end, so line numbers stay valid
        if not runnable(example.command) or shows_the_cpu_only_message(example):
            continue
        expected = list(example.expected)
        while expected and not expected[-1]:
            expected.pop()
        shown = output_of(example, invoke)
        if expected and expected[-1] == "…":
            last = expected[-2].strip() if len(expected) > 1 else None
            texts = [line.strip() for line in shown]
            end = texts.index(last) + 1 if last in texts else len(expected) - 1
            shown = [*shown[:end], "…"]
        start = example.line  # the index of the line after the command
        lines[start : start + len(expected)] = shown
        done += 1
    path.write_text("\n".join(lines) + "\n")
    return done


def main(paths: list[str]) -> None:
    """As the tests run: one CPU thread, no GPU, in-process through Typer's runner."""
    import torch
    from typer.testing import CliRunner

    from gradcli.cli import app

    torch.set_num_threads(1)
    torch.cuda.is_available = lambda: False  # type: ignore[method-assign]
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    runner = CliRunner()

    def invoke(*args: str, **env: str) -> Any:
        return runner.invoke(app, list(args), env=env)

    for name in paths:
        print(f"{name}: {render(Path(name).resolve(), invoke)} examples rendered")


if __name__ == "__main__":
    main(sys.argv[1:])
