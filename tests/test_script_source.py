"""``gradcli.script``'s pieces on their own, without running a script: each rule written out
by ``source.gather`` runs by itself and updates the parameters bit for bit as gradcli's rule
does; values, calls and import lines are written as ruff writes them."""

from __future__ import annotations

import pytest
import torch

from gradcli import optimizers
from gradcli.script.literals import call, literal
from gradcli.script.program import import_lines
from gradcli.script.source import gather
from tests.helpers import bits

STEPPED = [o for o in optimizers.catalog().values() if not o.closure and o.gradients != "sparse"]


def same(mine: object, theirs: object) -> bool:
    """Equal, a floating-point tensor bit for bit."""
    if isinstance(mine, torch.Tensor) and isinstance(theirs, torch.Tensor):
        if mine.is_floating_point():
            return mine.dtype == theirs.dtype and torch.equal(bits(mine), bits(theirs))
        return torch.equal(mine, theirs)
    return mine == theirs


@pytest.mark.parametrize("optimizer", STEPPED, ids=lambda o: o.name)
def test_a_rule_written_out_runs_alone_and_is_the_same_update(optimizer):
    """Each rule, written out with what it gathers (its imports, no gradcli) and run on its
    own, makes three updates bit for bit equal to gradcli's own rule's, state included; in a
    second, not the minutes of printing and running whole scripts."""
    gathered = gather(optimizer.rule)
    assert not [line for line in gathered.imports if "gradcli" in line]
    namespace: dict[str, object] = {}
    exec("\n".join([*gathered.imports, *(d.code for d in gathered.definitions)]), namespace)
    written = namespace[optimizer.rule.__name__]
    assert callable(written) and written is not optimizer.rule
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 2, generator=generator), torch.randn(4, generator=generator)]
    start = [p for p in start if optimizer.takes is None or optimizer.takes(tuple(p.shape))]
    runs = []
    for rule in (optimizer.rule, written):
        params = [p.clone() for p in start]
        states: list[dict] = [{} for _ in params]
        for step in range(3):
            grads = [torch.full_like(p, 0.1 * (step + 1)) + p for p in params]
            with torch.no_grad():
                rule(params, grads, states, lr=0.01, **optimizer.defaults)
        runs.append((params, states))
    (gradcli_params, gradcli_states), (written_params, written_states) = runs
    for mine, theirs in zip(written_params, gradcli_params, strict=True):
        assert same(mine, theirs)
    for mine, theirs in zip(written_states, gradcli_states, strict=True):
        assert mine.keys() == theirs.keys()
        assert all(same(mine[k], theirs[k]) for k in mine)


def test_values_read_back_as_the_same_bits():
    for value in (0.1, 1e-08, 1 / 3, -0.0, (0.9, 0.999), (None, 0.001), (5,), "original"):
        assert eval(literal(value)) == value and repr(eval(literal(value))) == repr(value)
    assert literal("match_rms_adamw") == '"match_rms_adamw"'  # as ruff format quotes it


def test_calls_break_as_ruff_format_breaks_them():
    """On one line; else the arguments on a line of their own; else one a line."""
    wide = ["a" * 45, "b" * 45]  # 96 columns on a line of their own, 109 on the call's
    assert call("f", ["a", "b"], indent=0) == ["f(a, b)"]
    assert call("function_name", wide, indent=0) == [
        "function_name(",
        f"    {', '.join(wide)}",
        ")",
    ]
    assert call("function_name", wide, indent=8) == [
        "function_name(",
        f"    {wide[0]},",
        f"    {wide[1]},",
        ")",
    ]


def test_import_lines_are_laid_out_as_isort_lays_them_out():
    lines = [
        "from torch import nn",
        "import torch",
        "from typing import Any",
        "import json",
        "from torch import Tensor",
        "import torch.nn.functional as F",
        "import math",
        "from collections.abc import Callable",
    ]
    assert import_lines(lines) == [
        "import json",
        "import math",
        "from collections.abc import Callable",
        "from typing import Any",
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import Tensor, nn",
    ]
