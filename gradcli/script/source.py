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

# the methods of a gathered class that a script calls itself (a scheduler's rule: built, then
# stepped); what they call in turn is found from their code
ENTRY_METHODS = ("__init__", "step")


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
    classes: frozenset[str]
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
    classes: set[str] = set()
    constants: dict[str, str] = {}
    imports: dict[str, tuple[str | None, str, str]] = {}

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef):
                functions.add(node.name)
            elif isinstance(node, ast.ClassDef):
                classes.add(node.name)
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
    return _Module(frozenset(functions), frozenset(classes), constants, imports)


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


def _gradcli_function(module: str | None, name: str) -> FunctionType | type | None:
    """The gradcli function (or class) ``from module import name`` binds, if it is one."""
    if not _is_gradcli(module):
        return None
    assert module is not None
    found = getattr(importlib.import_module(module), name, None)
    if isinstance(found, FunctionType | type) and _is_gradcli(found.__module__):
        return found
    return None


def _bases(cls: type) -> list[type]:
    """``cls``'s gradcli classes, its bases first, itself last."""
    return [c for c in reversed(cls.__mro__) if _is_gradcli(c.__module__)]


def _class_tree(cls: type) -> ast.ClassDef:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    assert isinstance(tree, ast.ClassDef)
    return tree


def _methods(cls: type) -> dict[str, ast.FunctionDef]:
    return {f.name: f for f in _class_tree(cls).body if isinstance(f, ast.FunctionDef)}


def _instance_methods(cls: type) -> set[str]:
    """The methods of a class that a gathered function reads (a dataclass of its arguments,
    ``Element``): its instance methods and ``ENTRY_METHODS``, not the class's own
    constructors (a ``classmethod``, ``Clipping.of``, reads what a script does not have)."""
    plain = {
        name
        for name, method in _methods(cls).items()
        if not any(
            getattr(d, "id", "") in ("classmethod", "staticmethod") for d in method.decorator_list
        )
    }
    return plain | set(ENTRY_METHODS)


def _runs(classes: tuple[type, ...], calls: tuple[str, ...] = ()) -> dict[type, set[str]]:
    """The methods of each of ``classes`` and their gradcli bases that run when the script
    builds and steps them (``ENTRY_METHODS``) or calls them (``calls``): those named, and
    every method an attribute of the same name reaches from them, defined where each of
    ``classes`` finds it (a base's method that all of them override, and ``super()`` does
    not call, never runs)."""
    chain = list(dict.fromkeys(c for cls in classes for c in _bases(cls)))
    methods = {c: _methods(c) for c in chain}
    reached, supers = {*ENTRY_METHODS, *calls}, set()
    while True:
        before = len(reached) + len(supers)
        for c in chain:
            for name, method in methods[c].items():
                if name not in reached:
                    continue
                for node in ast.walk(method):
                    if isinstance(node, ast.Attribute):
                        reached.add(node.attr)
                        call = node.value
                        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "super":
                            supers.add(node.attr)
        if len(reached) + len(supers) == before:
            break
    runs: dict[type, set[str]] = {c: set() for c in chain}
    for name in reached:
        for cls in classes:
            found = next((c for c in reversed(_bases(cls)) if name in methods[c]), None)
            if found is not None:
                runs[found].add(name)
    for name in supers:
        for c in chain:
            if name in methods[c]:
                runs[c].add(name)
    return runs


def _class_source(cls: type, keep: set[str]) -> str:
    """``cls``'s source, less the methods not in ``keep`` (and the blank line before each)."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    dropped: set[int] = set()
    for node in _class_tree(cls).body:
        if isinstance(node, ast.FunctionDef) and node.name not in keep:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            if first > 0 and not lines[first - 1].strip():
                first -= 1
            dropped.update(range(first, node.end_lineno or node.lineno))
    return "\n".join(line for i, line in enumerate(lines) if i not in dropped).rstrip() + "\n"


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


def gather(
    *functions: Callable[..., Any],
    classes: tuple[type, ...] = (),
    called: tuple[tuple[type, tuple[str, ...]], ...] = (),
) -> Gathered:
    """``functions``' sources and those of the gradcli helpers they call, transitively, with
    the import lines all of them need; and ``classes`` (a scheduler's rules, the hand-written
    gradient scaler), each after its gradcli bases, trimmed to the methods that run
    (``_runs``: built and stepped; a class of ``called``, with the methods of its own that
    the script calls, built and those called). Two different helpers of one
    name cannot share a listing: that is a ``ValueError``."""
    done: dict[str, FunctionType | type] = {}
    runs = _runs(classes)
    for cls, calls in called:
        runs.update(_runs((cls,), calls))
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
        follow(function, code, inlined)

    def visit_class(cls: type) -> None:
        if cls.__name__ in done:
            if done[cls.__name__] is not cls:
                raise ValueError(f"two classes named {cls.__name__} in one listing")
            return
        done[cls.__name__] = cls
        for base in _bases(cls)[:-1]:  # (a base is defined before the classes built on it)
            visit_class(base)
        code = _class_source(cls, runs[cls] if cls in runs else _instance_methods(cls))
        order.append(Definition(cls.__name__, where(cls), code))
        follow(cls, code, [])

    def follow(owner: FunctionType | type, code: str, inlined: list[FunctionType]) -> None:
        """Gather what ``code`` (``owner``'s) reads."""
        module = _module(inspect.getmodule(owner))  # type: ignore[arg-type]
        tree = ast.parse(code)
        calls: list[FunctionType | type] = list(inlined)
        for read in _read_names(tree, _local_names(tree.body[0])):
            calls += resolve(owner, module, read)
        for called in calls:
            enter(called)

    def enter(called: FunctionType | type) -> None:
        if isinstance(called, type):
            visit_class(called)
        else:
            visit(called)

    def resolve(
        owner: FunctionType | type, module: _Module, name: str
    ) -> list[FunctionType | type]:
        """Record what ``name`` in ``owner`` needs; the functions and classes to gather."""
        namespace = vars(inspect.getmodule(owner))
        if name in module.functions and isinstance(namespace.get(name), FunctionType):
            return [namespace[name]]
        if name in module.classes and isinstance(namespace.get(name), type):
            return [namespace[name]]
        if name in module.imports:
            source, imported, bound = module.imports[name]
            found = _gradcli_function(source, imported) if source else None
            if found is not None:
                return [found]
            imports[_import_line(source, imported, bound)] = None
            return []
        if name in module.constants:
            key = (owner.__module__, name)
            if key not in constants:
                text = module.constants[name]
                constants[key] = Definition(name, where(owner), text + "\n")
                tree = ast.parse(text)
                needed: list[FunctionType | type] = []
                for read in _read_names(tree, set()):
                    if read != name:
                        needed += resolve(owner, module, read)
                for called in needed:
                    enter(called)
            return []
        return []  # a builtin (zip, max): nothing to gather

    for function in functions:
        assert isinstance(function, FunctionType), function
        visit(function)
    for cls in (*classes, *(cls for cls, _ in called)):
        visit_class(cls)
    unique = {c.code: c for c in constants.values()}  # (``a, b = ...`` binds two names)
    definitions = (*unique.values(), *order)
    return Gathered(tuple(definitions), tuple(imports))
