"""Pages of words at 60, 80 and 120 columns: the optimizer catalog wraps its keywords rather
than cutting them, an optimizer's page shows its math without reStructuredText's quotes and
wraps a formula under itself, its lr row names every built-in problem, and source code
continues a long line further in than it starts, never at column 0."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcli.optimizers import catalog
from gradcli.optimizers.catalog import plain
from gradcli.render.code import CONTINUATION, code_lines
from gradcli.spec import MODELS

WIDTHS = ["60", "80", "120"]


def table(invoke, width: str, *args: str) -> str:
    result = invoke(*args, "-f", "table", COLUMNS=width)
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_the_catalog_shows_every_keyword_whole(invoke, width):
    out = table(invoke, width, "optimizers")
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= int(width)
    words = set(out.split())
    for optimizer in catalog().values():
        assert optimizer.name in words and optimizer.torch_class in words
        for h in optimizer.hyperparameters:
            first = f"{h.name}={plain(h.default)}".split()[0]  # ((None, 0.001): two words)
            assert first in words or first + "," in words, (optimizer.name, first)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_optimizer_page_wraps_its_math_under_itself(invoke, width):
    out = table(invoke, width, "optimizers", "adam")
    assert "``" not in out and "…" not in out
    assert "State: step (t, a CPU scalar tensor)" in " ".join(out.split())
    lines = out.splitlines()
    math = lines[lines.index("For each parameter θ with gradient g, at step t = 1, 2, ...:") :]
    math = math[: math.index("", 2)]  # the formulas, up to the blank line after them
    assert all(line.startswith("    ") for line in math[2:]), math
    (decay,) = [i for i, line in enumerate(math) if "θ ← θ·(1 − lr·λ)" in line]
    else_line = next(line for line in math[decay:] if line.rstrip().endswith("else"))
    if width != "120":  # (there, on the formula's line) under its comment or further in
        assert else_line.startswith("        ")
    mirrors = lines[1 : lines.index("")]
    assert mirrors[0].startswith("mirrors torch.optim.Adam(params, lr=0.001,")
    assert all(line.startswith("        ") for line in mirrors[1:])


def test_the_lr_row_names_every_built_in_problem(invoke):
    out = " ".join(table(invoke, "120", "optimizers", "adam").split())
    found = re.search(r"Learning rate \(torch's default shown; gradcli starts (.*?)\)", out)
    assert found, out
    named = re.findall(r"([a-z]+)(?: [\d.]+)?(?:,|;| at|$)", found.group(1))
    assert set(MODELS) <= set(named), found.group(1)
    assert "seed, embedding at torch's 0.001" in found.group(1)


@pytest.mark.parametrize("width", WIDTHS)
def test_params_continues_a_long_source_line_further_in(invoke, width):
    out = table(invoke, width, "params")
    lines = out.splitlines()
    source = lines[1 : lines.index("the tensors model demo holds")]
    assert source[0] == "class Demo(nn.Module):"
    assert all(line.startswith("    ") for line in source[1:] if line), source
    assert max(len(line) for line in source) <= int(width)
    if width != "120":  # a comment continued under its line, 4 further in
        frozen = ["            # frozen", "            requires_grad=False)  # frozen"]
        assert set(frozen) & set(source), source


code_line = st.tuples(
    st.integers(0, 12),
    st.lists(st.text("abcdefgh_().=", min_size=1, max_size=14), min_size=1, max_size=20),
)


@given(code_line, st.integers(20, 100))
def test_a_code_line_is_broken_between_words_and_continued_further_in(line, width):
    indent, words = line
    text = " " * indent + " ".join(words)
    pieces = [piece.plain for piece in code_lines(text + "\n", width)][:-1]  # (the last: "")
    assert pieces[0].startswith(" " * indent)
    for piece in pieces[1:]:
        assert piece.startswith(" " * (indent + CONTINUATION))
    assert " ".join(p.strip() for p in pieces).split() == words  # nothing lost or cut
    for piece in pieces:
        assert len(piece) <= width or " " not in piece.strip()  # a long word alone


def test_a_comment_is_not_parted_from_its_hash():
    line = "        x = f(a, b)  # frozen"
    assert [t.plain for t in code_lines(line + "\n", 27)][:-1] == [
        "        x = f(a, b)",
        "            # frozen",
    ]
