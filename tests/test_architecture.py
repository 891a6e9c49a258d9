"""The house's shape: imports point one way, down the layers of docs/design.md, and run in
no circle.

Every import counts, at any depth of a file (a function-level import, or one under
``TYPE_CHECKING``, still ties two modules), as ``../shared/tools/import_circles.py`` counts
them; a package's ``__init__`` is a module of its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradcli"

# Lowest first. A module belongs to the longest prefix listed; a module may import its own
# layer and the layers below it, never one above.
LAYERS: list[tuple[str, ...]] = [
    # what everything may use: errors and exit statuses, torch/Typer private names, start-up
    (
        "",
        "errors",
        "private_api",
        "_startup",
        "streams",
        "usercode",
        "printable",
        "bounded_lines",
    ),  # "": __init__ (__version__)
    # torch-free facts: catalogs, record types, output settings, the 2-D test functions,
    # saved runs read back, the constructor syntax, the lr range test's arithmetic, file kinds
    (
        "optimizers",
        "schedules",
        "records",
        "output",
        "surfaces",
        "saved_runs",
        "constructor",
        "lr_range",
        "file_kinds",
    ),
    # the run spec and its config file
    ("spec", "config"),
    # what a run trains, and measuring a step
    ("problems", "data", "measure"),
    # the engines: the one set-up and loop, the lessons, comparing schedules and runs
    ("train", "lessons", "schedules.side_by_side", "diff"),
    # sinks and pictures
    ("render", "pictures"),
    # what is built on a whole run: scripts, data-parallel training, the stepper's app
    ("script", "ddp", "stepper"),
    # the command line
    ("cli",),
    # the entry point
    ("entry", "__main__"),
]


def _modules() -> dict[str, Path]:
    modules = {}
    for file in PACKAGE.rglob("*.py"):
        parts = list(file.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = file
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name if name in modules else None


def import_graph() -> dict[str, set[str]]:
    """module -> the gradcli modules it imports (names relative to the package)."""
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for module, file in modules.items():
        base = module if file.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = f"gradcli.{base}".rstrip(".")
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    source = f"{anchor}.{node.module}" if node.module else anchor
                else:
                    source = node.module or ""
                targets = [f"{source}.{a.name}" for a in node.names] + [source]
            else:
                continue
            for target in targets:
                if target != "gradcli" and not target.startswith("gradcli."):
                    continue
                found = _resolve(target.removeprefix("gradcli").lstrip("."), modules)
                if found is not None and found != module:
                    edges[module].add(found)
                    break  # the most specific module an import statement names
    return edges


def layer_of(module: str) -> int:
    best, level = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix and module.startswith(prefix + "."))
            if inside and len(prefix) > best:
                best, level = len(prefix), i
    assert level is not None, f"gradcli.{module} is in no layer"
    return level


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_imports_point_down_the_layers():
    upward = [
        f"gradcli.{a} (layer {layer_of(a)}) imports gradcli.{b} (layer {layer_of(b)})"
        for a, targets in sorted(import_graph().items())
        for b in sorted(targets)
        if layer_of(b) > layer_of(a)
    ]
    assert upward == []


def test_the_design_page_lists_the_layers_as_this_test_has_them():
    """docs/design.md's layer table names each layer's modules in this order."""
    page = (PACKAGE.parent / "docs" / "design.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| ") and " | `" in line]
    layer_rows = [row for row in rows if row.split("|")[1].strip()[:1].isdigit()]
    assert len(layer_rows) == len(LAYERS)
    for level, (row, prefixes) in enumerate(zip(layer_rows, LAYERS, strict=True)):
        assert row.split("|")[1].strip().startswith(str(level))
        for prefix in prefixes:
            if prefix:
                path = prefix.replace(".", "/")
                named = f"`{path}/`" in row or f"`{path}.py`" in row
                assert named, f"layer {level} of docs/design.md does not name {path}"


def test_every_top_level_module_has_a_named_layer():
    """A new module or subpackage is placed in a layer on purpose, not by the catch-all."""
    named = {prefix.split(".")[0] for prefixes in LAYERS for prefix in prefixes if prefix}
    top = {module.split(".")[0] for module in _modules() if module}
    assert top - named == set()


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_circles_finds_what_it_should(edges, expected):
    assert circles(edges) == expected


def test_the_graph_sees_imports_inside_functions_and_packages():
    """The checks above would pass vacuously on an empty graph."""
    edges = import_graph()
    assert "errors" in edges["entry"]  # a module-level import
    assert "cli" in edges["entry"]  # an import inside main()
    assert edges["problems"] >= {"problems.base", "problems.landscapes"}  # package __init__
    assert layer_of("cli.app") > layer_of("train.loop") > layer_of("errors")
