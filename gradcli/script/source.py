"""The source of functions as they run, with the gradcli helpers they call: what
``--show-code`` lists and ``--print-script`` writes into a script, read from the code
(``inspect.getsource``), never retyped.

``gather(adam)`` finds, through each function's syntax tree, the names it reads that its
module defines or imports, and follows them: a gradcli function it calls (``_start``, and
from there ``scalar_dtype`` of ``optimizers/_scalars.py``, imported inside ``_start``'s body)
is gathered too, and so are module-level constants it reads (LBFGS's ``C1``); anything else
(``math``, ``torch.Tensor``) becomes an import line. An import inside a function body of a
gradcli function gathered here is dropped from that body, its definition being in the
listing itself. No torch here: this reads source text only.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from types import FunctionType, ModuleType
from typing import Any


@dataclass(frozen=True)
class Definition:
    """One top-level definition: a function, or a module-level constant, as its source
    (``code``), by its ``name``, from the file ``where`` (``gradcli/optimizers/adam.py``)."""

    name: str
    where: str
    code: str


@dataclass(frozen=True)
class Gathered:
    """What ``gather`` found: the definitions, in the order a reader meets them (each
    function before the helpers it calls; constants first), and the import lines they need
    (``import math``, ``from torch import Tensor``)."""

    definitions: tuple[Definition, ...]
    imports: tuple[str, ...]


def _is_gradcli(module: str | None) -> bool:
    return module is not None and (module == "gradcli" or module.startswith("gradcli."))


def where(function: Callable[..., Any]) -> str:
    """The file that defines ``function``, from ``gradcli/`` on."""
    path = (inspect.getsourcefile(function) or "").replace("\\", "/")
    return path[path.rfind("gradcli/") :] if "gradcli/" in path else path


@dataclass(frozen=True)
class _Module:
    """What a module's top level binds: its functions, constants (their statements' source)
    and imports (name → the import line that binds it alone)."""

    functions: frozenset[str]
    constants: dict[str, str]
    imports: dict[str, tuple[str | None, str, str]]  # name → (from-module, imported, as)


def _import_line(source: str | None, imported: str, bound: str) -> str:
    """The line that binds ``bound``: ``import math``, ``from torch import Tensor``."""
    if source is None:
        plain = bound == imported.split(".")[0]
        return f"import {imported}" if plain else f"import {imported} as {bound}"
    return f"from {source} import {imported}" + (f" as {bound}" if bound != imported else "")


def _bindings(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str | None, str, str]]:
    """(from-module, imported name, bound name) for each name ``node`` binds."""
    for alias in node.names:
        if isinstance(node, ast.ImportFrom):
            yield node.module, alias.name, alias.asname or alias.name
        else:
            yield None, alias.name, alias.asname or alias.name.split(".")[0]


@cache
def _module(module: ModuleType) -> _Module:
    source = inspect.getsource(module)
    lines = source.splitlines()
    functions: set[str] = set()
    constants: dict[str, str] = {}
    imports: dict[str, tuple[str | None, str, str]] = {}

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef):
                functions.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for binding in _bindings(node):
                    imports[binding[2]] = binding
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                text = "\n".join(lines[node.lineno - 1 : node.end_lineno])  # (its comment too)
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            constants[name.id] = text
            elif isinstance(node, ast.If | ast.Try):  # if TYPE_CHECKING:, try: ... except
                visit(node.body)

    visit(ast.parse(source).body)
    return _Module(frozenset(functions), constants, imports)


def _local_names(tree: ast.AST) -> set[str]:
    """The names a function binds itself: its arguments, assignments, loops, local imports."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update(b[2] for b in _bindings(node))
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node is not tree:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.difference_update(node.names)
    return bound


def _read_names(tree: ast.AST, skip: set[str]) -> list[str]:
    """The names ``tree`` reads that it does not bind, in the order they appear."""
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in skip
    ]
    found.sort(key=lambda n: (n.lineno, n.col_offset))
    return list(dict.fromkeys(n.id for n in found))


def _gradcli_function(module: str | None, name: str) -> FunctionType | None:
    """The gradcli function ``from module import name`` binds, if it is one."""
    if not _is_gradcli(module):
        return None
    assert module is not None
    found = getattr(importlib.import_module(module), name, None)
    if isinstance(found, FunctionType) and _is_gradcli(found.__module__):
        return found
    return None


def _own_source(function: FunctionType) -> tuple[str, list[FunctionType]]:
    """``function``'s source, less the body's imports of gradcli functions (gathered
    instead), and the functions those imports named."""
    source = textwrap.dedent(inspect.getsource(function))
    tree = ast.parse(source)
    lines = source.splitlines()
    inlined: list[FunctionType] = []
    replaced: dict[int, list[str]] = {}  # first line (0-based) → its replacement
    dropped: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not _is_gradcli(node.module):
            continue
        found = [(a, _gradcli_function(node.module, a.name)) for a in node.names]
        inlined += [f for _, f in found if f is not None]
        kept = [a for a, f in found if f is None]
        if len(kept) == len(node.names):
            continue
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        dropped.update(range(first, last + 1))
        if kept:
            indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in kept)
            replaced[first] = [f"{indent}from {node.module} import {names}"]
    out: list[str] = []
    for i, line in enumerate(lines):
        if i in replaced:
            out += replaced[i]
        elif i not in dropped and not (not line.strip() and out and not out[-1].strip()):
            out.append(line)  # (a dropped line leaves one blank line, not two)
    return "\n".join(out).rstrip() + "\n", inlined


def gather(*functions: Callable[..., Any]) -> Gathered:
    """``functions``' sources and those of the gradcli helpers they call, transitively, with
    the import lines all of them need. Two different helpers of one name cannot share a
    listing: that is a ``ValueError``."""
    done: dict[str, FunctionType] = {}
    constants: dict[tuple[str, str], Definition] = {}
    order: list[Definition] = []
    imports: dict[str, None] = {}

    def visit(function: FunctionType) -> None:
        name = function.__name__
        if name in done:
            if done[name] is not function:
                raise ValueError(f"two functions named {name} in one listing")
            return
        done[name] = function
        code, inlined = _own_source(function)
        order.append(Definition(name, where(function), code))
        module = _module(inspect.getmodule(function))  # type: ignore[arg-type]
        tree = ast.parse(code)
        calls = list(inlined)
        for read in _read_names(tree, _local_names(tree.body[0])):
            calls += resolve(function, module, read)
        for called in calls:
            visit(called)

    def resolve(function: FunctionType, module: _Module, name: str) -> list[FunctionType]:
        """Record what ``name`` in ``function`` needs; the functions to gather for it."""
        namespace = function.__globals__
        if name in module.functions and isinstance(namespace.get(name), FunctionType):
            return [namespace[name]]
        if name in module.imports:
            source, imported, bound = module.imports[name]
            found = _gradcli_function(source, imported) if source else None
            if found is not None:
                return [found]
            imports[_import_line(source, imported, bound)] = None
            return []
        if name in module.constants:
            key = (function.__module__, name)
            if key not in constants:
                text = module.constants[name]
                constants[key] = Definition(name, where(function), text + "\n")
                tree = ast.parse(text)
                needed: list[FunctionType] = []
                for read in _read_names(tree, set()):
                    if read != name:
                        needed += resolve(function, module, read)
                for called in needed:
                    visit(called)
            return []
        return []  # a builtin (zip, max): nothing to gather

    for function in functions:
        assert isinstance(function, FunctionType), function
        visit(function)
    unique = {c.code: c for c in constants.values()}  # (``a, b = ...`` binds two names)
    definitions = (*unique.values(), *order)
    return Gathered(tuple(definitions), tuple(imports))
