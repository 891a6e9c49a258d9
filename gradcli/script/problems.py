"""The problems as a script writes them: the built-ins' code inlined, a user's factory
imported from its file.

A built-in is its own source in ``gradcli/problems/builtin.py`` (read with ``inspect``, so
it is written once), less what only gradcli needs: the reference optimum, the metrics,
ddp's data buffers; what its methods use from gradcli (the data's generator and seed) comes
with it as the rules' helpers come with them (``source.gather``), and so do the imports.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import textwrap
from dataclasses import dataclass

from gradcli.problems import BUILTINS
from gradcli.script.source import gather


@dataclass(frozen=True)
class ProblemCode:
    """What a script needs for one problem: imports beyond ``json`` and ``torch``, its
    definitions, and the expression that makes the model."""

    imports: tuple[str, ...]
    code: str
    make: str


def _class_code(problem: type) -> str:
    """A built-in problem's class as a script has it: gradcli's own source, less what only
    gradcli needs (the reference optimum, metrics, ddp's data buffers), on ``nn.Module``."""
    source = textwrap.dedent(inspect.getsource(problem))
    lines = source.splitlines()
    (node,) = ast.parse(source).body
    assert isinstance(node, ast.ClassDef)
    kept = [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name in _METHODS]
    used = {a.attr for f in kept for a in ast.walk(f) if isinstance(a, ast.Attribute)}
    drop: set[int] = set()
    for item in node.body[1:]:  # (the docstring stays)
        names = {
            t.id
            for t in getattr(item, "targets", [])
            for t in ast.walk(t)
            if isinstance(t, ast.Name)
        }
        if item in kept or (isinstance(item, ast.Assign) and names & used):
            continue
        first = min([item.lineno, *(d.lineno for d in getattr(item, "decorator_list", []))])
        drop.update(range(first - 1, item.end_lineno or item.lineno))
    out: list[str] = []
    for i, line in enumerate(lines):
        if i not in drop and (line.strip() or (out and out[-1].strip())):
            out.append(line)
    out[0] = f"class {problem.__name__}(nn.Module):"
    return "\n".join(out).rstrip() + "\n"


_METHODS = ("__init__", "forward")


def _builtin(name: str) -> ProblemCode:
    """A built-in's class and, before it, what its methods use from gradcli (the data's
    generator, its seed), gathered as the rules are (``source.gather``), with the imports
    they all need."""
    problem = BUILTINS[name]
    methods = [vars(problem)[m] for m in _METHODS if m in vars(problem)]
    gathered = gather(*methods)
    own = {method.__name__ for method in methods}  # (the class holds those itself)
    helpers = [d.code.rstrip("\n") for d in gathered.definitions if d.name not in own]
    text = "\n\n\n".join([*helpers, _class_code(problem).rstrip("\n")]) + "\n"
    return ProblemCode((*gathered.imports, "from torch import nn"), text, f"{problem.__name__}()")


def _comment(text: str) -> str:
    """``text`` as comment lines."""
    return "".join(f"# {line}\n" for line in textwrap.wrap(text, 90))


def _string(text: str) -> str:
    """``text`` as a double-quoted Python string."""
    return json.dumps(text, ensure_ascii=False)


def _landscape(name: str) -> ProblemCode:
    """A 2-D surface problem: the surface's function, from ``gradcli/surfaces.py`` (where
    ``gradcli plot`` draws it with floats too), and a module that holds the point."""
    problem = BUILTINS[name]
    surface = problem.surface  # type: ignore[attr-defined]
    function = surface.loss
    gathered = gather(function)
    text = "\n\n\n".join(d.code.rstrip("\n") for d in gathered.definitions)
    doc = (problem.__doc__ or "").strip().splitlines()[0]
    x, y = surface.start
    text += f"""


class {problem.__name__}(nn.Module):
    \"\"\"{doc}\"\"\"

    def __init__(self) -> None:
        super().__init__()
        self.xy = nn.Parameter(torch.tensor(({x!r}, {y!r})))

    def forward(self) -> torch.Tensor:
        x, y = self.xy[0], self.xy[1]
        return {function.__name__}(x, y, torch.cos)
"""
    return ProblemCode((*gathered.imports, "from torch import nn"), text, f"{problem.__name__}()")


def problem_code(model: str) -> ProblemCode:
    """A built-in's code, or the lines that import a user's factory the way gradcli does:
    ``file.py:factory`` from that file (its path as given, from the folder the script runs
    in), its folder first on the import path (as ``python file.py`` would have it);
    ``package.module:factory`` from the current folder."""
    if model in BUILTINS:
        landscape = hasattr(BUILTINS[model], "surface")
        return _landscape(model) if landscape else _builtin(model)
    location, _, factory = model.rpartition(":")
    imports = (
        "import importlib.util"
        if location.endswith(".py") or "/" in location
        else "import importlib",
        "import os",
        "import sys",
    )
    if location.endswith(".py") or "/" in location:
        stem = os.path.splitext(os.path.basename(location))[0]
        path = f"path = {_string(location)}"
        code = (
            _comment(
                f"your model: {factory}() from {os.path.basename(location)}, its folder first "
                "on the import path, as when python runs that file"
            )
            + (path if len(path) <= 100 else path + "  # noqa: E501")
            + "\nsys.path.insert(0, os.path.dirname(os.path.abspath(path)))\n"
            f"spec = importlib.util.spec_from_file_location({_string(stem)}, path)\n"
            "module = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(module)\n"
        )
        return ProblemCode(imports, code, f"module.{factory}()")
    code = (
        _comment(
            f"your model: {factory}() from the module {location}, found from the current "
            "folder first, as gradcli finds it"
        )
        + "sys.path.insert(0, os.getcwd())\n"
        f"module = importlib.import_module({_string(location)})\n"
    )
    return ProblemCode(imports, code, f"module.{factory}()")
