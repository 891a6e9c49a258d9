"""``gradcli.script.source``: one way to print the code that runs, for ``--show-code`` and
``--print-script``. A rule is written out as it stands in its module with every gradcli
function and constant it calls; the code written out runs on its own and updates the
parameters bit for bit as gradcli's rule does. And the layout helpers write what ruff writes."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import torch

from gradcli import optimizers
from gradcli.errors import GradcliError
from gradcli.optimizers import adadelta, adam, lbfgs
from gradcli.script.layout import call, import_lines, literal
from gradcli.script.source import gather
from tests.helpers import bits


def without_imports(source: str) -> list[str]:
    """``source``'s lines less its import lines and blank lines."""
    return [
        line
        for line in source.splitlines()
        if line.strip() and not line.strip().startswith(("import ", "from "))
    ]


def test_a_rule_comes_with_the_gradcli_functions_it_calls_as_they_stand():
    """AdamW's rule calls Adam's, which calls ``_start``, which imports ``scalar_dtype`` from
    another module: all four, each its own source less its imports, in the order used."""
    from gradcli.optimizers import _common

    gathered = gather(adam.adamw)
    assert [d.name for d in gathered.definitions] == ["adamw", "adam", "_start", "scalar_dtype"]
    originals = [adam.adamw, adam.adam, adam._start, _common.scalar_dtype]
    for definition, original in zip(gathered.definitions, originals, strict=True):
        assert without_imports(definition.source) == without_imports(inspect.getsource(original))
        assert "import" not in definition.source.split('"""')[-1]  # (the body: none left)
    assert gathered.definitions[-1].where == "gradcli/optimizers/_common.py"
    assert set(gathered.imports) == {"import torch", "from torch import Tensor"}


def test_constants_come_first_and_every_name_the_code_reads_is_defined():
    """LBFGS's line search reads the module's constants C1 and C2: written out first, with
    their comment. The code compiles and names nothing it does not define or import."""
    gathered = gather(lbfgs.lbfgs)
    names = [d.name for d in gathered.definitions]
    assert names[:2] == ["C1", "C2"] and {"strong_wolfe", "cubic_interpolate"} <= set(names)
    assert gathered.code.startswith("# The constants of torch's _strong_wolfe")
    namespace: dict[str, object] = {}
    exec("\n".join([*gathered.imports, gathered.code]), namespace)
    assert namespace["C1"] == lbfgs.C1 and callable(namespace["lbfgs"])


def test_two_functions_of_one_name_are_refused():
    with pytest.raises(GradcliError, match="two gradcli definitions are called _start"):
        gather(adam._start, adadelta._start)


STEPPED = [o for o in optimizers.catalog().values() if not o.closure and o.gradients != "sparse"]


@pytest.mark.parametrize("optimizer", STEPPED, ids=lambda o: o.name)
def test_the_code_written_out_is_the_same_update(optimizer):
    """Each rule, written out and run on its own (its imports, no gradcli), makes three
    updates bit for bit equal to gradcli's own rule's, state included."""
    gathered = gather(optimizer.rule)
    assert not [line for line in gathered.imports if "gradcli" in line]
    namespace: dict[str, object] = {}
    exec("\n".join([*gathered.imports, gathered.code]), namespace)
    written = namespace[optimizer.rule.__name__]
    assert callable(written)
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
        assert torch.equal(bits(mine), bits(theirs))
    for mine, theirs in zip(written_states, gradcli_states, strict=True):
        assert mine.keys() == theirs.keys()
        assert all(same(mine[k], theirs[k]) for k in mine)


def same(mine: object, theirs: object) -> bool:
    """Equal, a floating-point tensor bit for bit."""
    if isinstance(mine, torch.Tensor) and isinstance(theirs, torch.Tensor):
        if mine.is_floating_point():
            return mine.dtype == theirs.dtype and torch.equal(bits(mine), bits(theirs))
        return torch.equal(mine, theirs)
    return mine == theirs


def test_values_read_back_as_the_same_bits():
    for value in (0.1, 1e-08, 1 / 3, -0.0, (0.9, 0.999), (None, 0.001), (5,), "original"):
        assert eval(literal(value)) == value and repr(eval(literal(value))) == repr(value)
    assert literal("match_rms_adamw") == '"match_rms_adamw"'  # as ruff format quotes it


def test_calls_break_as_ruff_format_breaks_them():
    assert call("f", ["a", "b"]) == ["f(a, b)"]
    wide = ["a" * 40, "b" * 40]  # 86 columns indented, 97 on the call's line
    assert call("function_name", wide, width=90) == [
        "function_name(",
        f"    {', '.join(wide)}",
        ")",
    ]
    assert call("x = f", ["a" * 40, "b" * 40], indent=4, width=50) == [
        "    x = f(",
        f"        {'a' * 40},",
        f"        {'b' * 40},",
        "    )",
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


def test_the_script_package_imports_no_torch():
    """``gradcli/script`` reads source and writes text: torch is imported only once a script
    is set up (DESIGN.md: the script layer imports no torch)."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import gradcli.script as s\n"
        "for m in pkgutil.iter_modules(s.__path__):\n"
        "    importlib.import_module('gradcli.script.' + m.name)\n"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("False\n", "")
