"""Drives the commands that teach: params, graph and pitfalls."""

from __future__ import annotations

import inspect
import os
import sys

import torch
from torch import nn

from gradcli import problems
from gradcli.lessons import pitfalls
from gradcli.lessons.graph import autograd_graph, dot
from gradcli.lessons.inspection import KINDS, Demo, claims, inspect_model
from gradcli.output import Output
from gradcli.render import lessons
from gradcli.render.rows import write_rows
from gradcli.spec import PITFALLS
from gradcli.usercode import user_code


def build_for_inspection(model: str) -> nn.Module:
    """The demo module or a built-in problem, on the CPU in float32, seed 0."""
    torch.manual_seed(0)
    if model == "demo":
        return Demo()
    return problems.build(model, seed=0, dtype=torch.float32, device=torch.device("cpu"))


def source_of(module: nn.Module) -> tuple[str, str] | None:
    """Where the module's class is written (a path under gradcli/, or the file's own) and
    its source; None where Python cannot find it (a class made at run time)."""
    try:
        text = inspect.getsource(type(module))
        where = inspect.getsourcefile(type(module)) or "?"
    except (OSError, TypeError):
        return None
    inside = where.rfind("gradcli/")
    return (where[inside:] if inside >= 0 else os.path.relpath(where)), text


def run_params(model: str, output: Output) -> None:
    module = build_for_inspection(model)
    with user_code(f"--model {model}: forward()"):  # (runs it: its prints go to stderr)
        rows = sorted(inspect_model(module), key=lambda r: KINDS.index(r.kind))
        found = claims(module, rows)
    fmt = output.resolved_format()
    if fmt == "table":
        console = output.console(sys.stdout)
        lessons.params_table(console, model, rows, found, source_of(module))
    else:
        dicts = lessons.param_dicts(rows)
        write_rows(sys.stdout, fmt, dicts, list(dicts[0]) if dicts else [])


def run_graph(model: str, output: Output) -> None:
    module = build_for_inspection(model)
    with user_code(f"--model {model}: forward()"):
        nodes = autograd_graph(module, module())
    fmt = output.resolved_format()
    if fmt == "table":
        lessons.graph_tree(output.console(sys.stdout), model, nodes)
    elif fmt == "dot":
        sys.stdout.write(dot(nodes))
    else:
        write_rows(
            sys.stdout,
            fmt,
            lessons.node_dicts(nodes),
            ["id", "node", "parameter", "shape", "inputs"],
        )


def run_pitfalls(name: str, output: Output) -> None:
    """Run one pitfall (the list of them is ``render.lessons.list_pitfalls``: no torch)."""
    fmt = output.resolved_format()
    outcome = pitfalls.PITFALLS[name]()
    if fmt == "table":
        lessons.pitfall_table(output.console(sys.stdout), outcome, PITFALLS[name])
    else:
        write_rows(
            sys.stdout,
            fmt,
            lessons.pitfall_dicts(outcome),
            ["pitfall", "step", "quantity", "mistake", "correct"],
        )
