"""The source that runs: a function's own code (``inspect.getsource``) and, found through its
syntax tree, the code of every gradcli function and constant it uses, transitively; so that
``--show-code`` and ``--print-script`` print what gradcli runs instead of a retyped copy.

A gradcli import inside a function body (``from gradcli.optimizers._common import
scalar_dtype``) is dropped and the definition it imports written out beside it; any other
import in a body (``import torch``) is dropped and listed with the imports, as is each name
the code takes from its module (``math``, ``partial``, ``Tensor`` in an annotation): a script
imports each once, at its top. No torch here.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import FunctionType, ModuleType
from typing import Any

from gradcli.errors import GradcliError


@dataclass(frozen=True)
class Definition:
    """One function or constant as it stands in gradcli, less its gradcli imports."""

    name: str
    where: str  # its file, from ``gradcli/`` on
    source: str


@dataclass(frozen=True)
class Gathered:
    """Functions and the code they need: the definitions (constants first, then functions in
    the order they are first used), and the import lines outside gradcli that they use."""

    definitions: tuple[Definition, ...]
    imports: tuple[str, ...]

    @property
    def code(self) -> str:
        """The definitions as one piece of code: the constants together, then each function,
        two blank lines apart."""
        constants = "".join(d.source for d in self.definitions if not d.source.startswith("def"))
        functions = [d.source.rstrip("\n") for d in self.definitions if d.source.startswith("def")]
        return "\n\n\n".join([constants.rstrip("\n")] * bool(constants) + functions) + "\n"


def gather(*functions: Callable[..., Any]) -> Gathered:
    """``functions`` and, transitively, every gradcli function and constant they use."""
    return _gather([(f.__name__, f, sys.modules[f.__module__]) for f in functions], [])


def used_by(code: str, module: ModuleType) -> Gathered:
    """What ``code``, taken from ``module``, uses: every gradcli function and constant
    (transitively; not ``code`` itself), and the imports."""
    waiting: list[tuple[str, object, ModuleType]] = []
    imports: list[str] = []
    _follow(_free_names(ast.parse(code)), module, waiting, imports)
    return _gather(waiting, imports)


def _gather(waiting: list[tuple[str, object, ModuleType]], imports: list[str]) -> Gathered:
    """Write out each ``(name, object, its module)`` waiting, and what it uses, in turn."""
    found: dict[str, Definition] = {}
    origin: dict[str, object] = {}
    while waiting:
        name, value, module = waiting.pop(0)
        if name in origin:
            if origin[name] != value:  # two definitions, one name: the code would lie
                raise GradcliError(f"two gradcli definitions are called {name}")
            continue
        origin[name] = value
        if isinstance(value, FunctionType):
            definition, used = _function(value, module, imports)
        else:
            definition, used = _constant(name, module), _free_names(_constant_node(name, module))
        found[name] = definition
        _follow(used, module, waiting, imports)
    constants_first = sorted(found.values(), key=lambda d: d.source.startswith("def "))
    return Gathered(tuple(constants_first), tuple(dict.fromkeys(imports)))


def _follow(
    names: list[str],
    module: ModuleType,
    waiting: list[tuple[str, object, ModuleType]],
    imports: list[str],
) -> None:
    """Each of ``names`` (used in ``module``) to ``waiting`` if gradcli code, to ``imports``
    if an import."""
    for name in names:
        resolved = _resolve(name, module)
        if isinstance(resolved, str):
            imports.append(resolved)
        elif resolved is not None:
            waiting.append(resolved)


def _function(
    function: FunctionType, module: ModuleType, imports: list[str]
) -> tuple[Definition, list[str]]:
    """``function``'s source less its imports, and the free names it uses (the names a
    gradcli import brings count as used: they are written out). Its other imports go to
    ``imports``: a script has them once, at its top."""
    source = textwrap.dedent(inspect.getsource(function))
    (node,) = ast.parse(source).body
    lines = source.splitlines()
    dropped: set[int] = set()
    used = _free_names(node)
    for statement in ast.walk(node):
        if not isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        dropped.update(range(statement.lineno - 1, statement.end_lineno or statement.lineno))
        for alias in statement.names:
            if isinstance(statement, ast.Import):
                imports.append(ast.unparse(ast.Import(names=[alias])))
            elif (statement.module or "").startswith("gradcli"):
                used.append(f"{statement.module}:{alias.name}")  # written out instead
            else:
                imports.append(f"from {statement.module} import {ast.unparse(alias)}")
    signature_end = node.body[0].lineno - 2  # (the line before the body)
    kept: list[str] = []
    last = -1  # the last line kept
    for i, line in enumerate(lines):
        if i in dropped:
            continue
        if not line.strip() and i - 1 in dropped and (last == signature_end or not kept[-1]):
            continue  # the blank line after a dropped import, where one is not needed
        kept.append(line)
        last = i
    return Definition(function.__name__, _where(function), "\n".join(kept).rstrip() + "\n"), used


def _free_names(node: ast.AST) -> list[str]:
    """The names ``node`` reads and does not bind itself (nor are Python's builtins), in the
    order they first appear."""
    bound: set[str] = set(dir(builtins))
    read: list[ast.Name] = []
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            if isinstance(child.ctx, ast.Load):
                read.append(child)
            else:
                bound.add(child.id)
        elif isinstance(child, ast.arg):
            bound.add(child.arg)
        elif isinstance(child, ast.alias):
            bound.add((child.asname or child.name).split(".")[0])
        elif isinstance(child, ast.FunctionDef | ast.ClassDef) and child is not node:
            bound.add(child.name)
    read.sort(key=lambda n: (n.lineno, n.col_offset))
    return list(dict.fromkeys(n.id for n in read if n.id not in bound))


@cache
def _module_tree(module: ModuleType) -> ast.Module:
    return ast.parse(inspect.getsource(module))


def _where(thing: FunctionType | ModuleType) -> str:
    """The file ``thing`` is in, from ``gradcli/`` on."""
    where = inspect.getsourcefile(thing) or ""
    return where[where.rfind("gradcli/") :] if "gradcli/" in where else where


def _constant_node(name: str, module: ModuleType) -> ast.stmt:
    for statement in _module_tree(module).body:
        targets = getattr(statement, "targets", [getattr(statement, "target", None)])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return statement
    raise LookupError(name)


def _constant(name: str, module: ModuleType) -> Definition:
    """A module-level ``NAME = value`` as it stands, with its comment (the line above it)."""
    statement = _constant_node(name, module)
    lines = inspect.getsource(module).splitlines()
    first = statement.lineno - 1
    while first > 0 and lines[first - 1].startswith("#"):
        first -= 1
    source = "\n".join(lines[first : statement.end_lineno]) + "\n"
    return Definition(name, _where(module), source)


def _resolve(name: str, module: ModuleType) -> tuple[str, object, ModuleType] | str | None:
    """What ``name`` is in ``module``: gradcli code to write out (its name, the object and
    its module), an import line, or None (a name bound where gradcli does not look).
    ``module:name`` is a name a gradcli import in a function body brings."""
    if ":" in name:
        where, _, name = name.partition(":")
        module = importlib.import_module(where)
        value = getattr(module, name)
        if not isinstance(value, FunctionType):  # (an object: imported, as gradcli has it)
            return f"from {where} import {name}"
        return name, value, sys.modules[value.__module__]
    what = _module_names(module).get(name)
    if what is None or what.startswith(("import ", "from ")):
        return what
    if what.startswith("gradcli"):
        return _resolve(what, module)
    if what == "def":
        return name, getattr(module, name), module
    return name, _Constant(module.__name__, name), module


@cache
def _module_names(module: ModuleType) -> dict[str, str]:
    """What each name ``module`` imports (anywhere in it) or defines at its top level is:
    an import line, ``gradcli.module:name`` (a gradcli import), ``def`` or ``constant``."""
    names: dict[str, str] = {}
    tree = _module_tree(module)
    for statement in ast.walk(tree):
        if not isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        for alias in statement.names:
            bound = alias.asname or alias.name.split(".")[0]
            if isinstance(statement, ast.Import):
                names.setdefault(bound, ast.unparse(ast.Import(names=[alias])))
            elif (statement.module or "").startswith("gradcli"):
                names.setdefault(bound, f"{statement.module}:{alias.name}")
            else:
                names.setdefault(bound, f"from {statement.module} import {ast.unparse(alias)}")
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef):
            names.setdefault(statement.name, "def")
        targets = getattr(statement, "targets", [getattr(statement, "target", None)])
        for target in targets:
            if isinstance(target, ast.Name):
                names.setdefault(target.id, "constant")
    return names


@dataclass(frozen=True)
class _Constant:
    """A module-level constant, known by where it is (its value may be any object)."""

    module: str
    name: str
