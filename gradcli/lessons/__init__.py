"""What the commands that teach (params, graph, pitfalls) look at: the module to inspect, the
tensors it holds, its autograd graph. The pitfalls themselves are in ``lessons.pitfalls``."""

from __future__ import annotations

import inspect
import os

import torch
from torch import nn

from gradcli import problems
from gradcli.lessons.graph import Node, autograd_graph
from gradcli.lessons.inspection import KINDS, Demo, TensorRow, claims, inspect_model
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


def tensors_of(model: str) -> tuple[nn.Module, list[TensorRow], list[str]]:
    """The module ``--model`` names, one row per tensor it holds (by kind: Parameters first),
    and the sentences about torch checked on it just now."""
    module = build_for_inspection(model)
    with user_code(f"--model {model}: forward()"):  # (runs it: its prints go to stderr)
        rows = sorted(inspect_model(module), key=lambda r: KINDS.index(r.kind))
        found = claims(module, rows)
    return module, rows, found


def graph_of(model: str) -> list[Node]:
    """The autograd graph behind the loss of the module ``--model`` names."""
    module = build_for_inspection(model)
    with user_code(f"--model {model}: forward()"):
        return autograd_graph(module, module())
