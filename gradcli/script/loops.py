"""The loop of a script, in commented phases: torch.optim's (``optim_loop``) or each
rule written out by hand (``manual_loop``), with the set-up lines each needs."""

from __future__ import annotations

import inspect
import re
from dataclasses import replace

import torch

from gradcli.errors import GradcliError
from gradcli.optimizers import _snippet as snip
from gradcli.optimizers.catalog import Optimizer, Snippet
from gradcli.spec import RunSpec
from gradcli.train.updates import Part, impl_kwargs, manual_rule


def _top_level(text: str) -> list[str]:
    """``text`` split at its commas outside brackets: ``a, f(b, c)`` → ``a``, ``f(b, c)``."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char in "([{") - (char in ")]}")
        if char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    return [*parts, text[start:].strip()]


def _state_lines(states: str, state: str, chosen: str) -> list[str]:
    """``states = {p: <state> for p in <chosen>}``, over as many lines as it needs."""
    line = f"{states} = {{p: {state} for p in {chosen}}}"
    if len(line) <= 100:
        return [line]
    if len(f"    p: {state} for p in {chosen}") <= 100:  # (as ruff format has it)
        return [f"{states} = {{", f"    p: {state} for p in {chosen}", "}"]
    if len(state) <= 96:
        return [f"{states} = {{", f"    p: {state}", f"    for p in {chosen}", "}"]
    entries = _top_level(state[1:-1])
    return [
        f"{states} = {{",
        "    p: {",
        *(f"        {entry}," for entry in entries),
        "    }",
        f"    for p in {chosen}",
        "}",
    ]


def _changed(optimizer: Optimizer, hyperparameters: dict[str, object]) -> list[str]:
    """The constructor's keywords that differ from torch's defaults, as source."""
    return [
        f"{k}={snip.literal(v)}"
        for k, v in hyperparameters.items()
        if v != optimizer.defaults[k] or type(v) is not type(optimizer.defaults[k])
    ]


def _call(target: str, function: str, arguments: list[str]) -> list[str]:
    """``target = function(arguments)`` on one line, or one argument a line if too long."""
    line = f"{target} = {function}({', '.join(arguments)})"
    if len(line) <= 100:
        return [line]
    return [f"{target} = {function}(", *(f"    {a}," for a in arguments), ")"]


def _keep(own_model: bool) -> list[str]:
    """Lines that keep what the log shows: the gradients and the parameters before the
    update (a user's model may leave a parameter without a gradient)."""
    grads = "None if p.grad is None else p.grad.clone()" if own_model else "p.grad.clone()"
    return [
        "# keep what the log shows: the gradients and the parameters before the update",
        f"grads = [{grads} for p in params]",
        "before = [p.detach().clone() for p in params]",
    ]


def optim_loop(
    parts: list[Part], spec: RunSpec, device: torch.device, own_model: bool
) -> tuple[list[str], list[str]]:
    """The torch.optim loop: one optimizer (Muon: and AdamW for what it does not take)."""
    setup: list[str] = list(_SPLIT) if len(parts) > 1 else []
    names = []
    for i, (_, optimizer, hyperparameters) in enumerate(parts):
        name = "optimizer" if len(parts) == 1 else f"optimizer_{optimizer.name}"
        names.append(name)
        chosen = "params" if len(parts) == 1 else _choose(i == 0)
        torch_class = getattr(torch.optim, optimizer.torch_class)
        takes = inspect.signature(torch_class).parameters
        flags = [
            f"{k}={v}" for k, v in impl_kwargs(optimizer, spec.impl, device).items() if k in takes
        ]
        arguments = [chosen, "lr=lr", *_changed(optimizer, hyperparameters), *flags]
        setup += _call(name, f"torch.optim.{optimizer.torch_class}", arguments)
    step = [f"{n}.step()" for n in names]
    if parts[0][1].closure:
        setup += _CLOSURE
        step = ["evaluations = 0", "optimizer.step(closure)"]
    body = [
        "# 1. zero the gradients (optimizer.zero_grad() drops them: sets them to None)",
        *(f"{n}.zero_grad()" for n in names),
        "# 2. forward: the loss at the current parameters",
        "loss = model()",
        "# 3. backward: autograd puts the gradient of the loss into each p.grad",
        "loss.backward()",
        *_keep(own_model),
        "# 4. update: torch.optim's step",
        *step,
        "# 5. log",
    ]
    return body, setup


_CLOSURE = [
    "",
    "",
    "def closure() -> torch.Tensor:",
    '    """LBFGS evaluates the loss itself, as often as its line search needs: first the',
    '    loss this step has already computed, then again at each point it tries."""',
    "    global evaluations",
    "    evaluations += 1",
    "    if evaluations == 1:",
    "        return loss",
    "    optimizer.zero_grad()",
    "    again = model()",
    "    again.backward()",
    "    return again",
    "",
]


def _choose(own: bool) -> str:
    """The parameters one of two optimizers trains (Muon: the 2-D ones; AdamW the rest)."""
    return "matrices" if own else "others"


_SPLIT = [
    "# Muon trains the matrices; AdamW, at torch's defaults, the other parameters",
    "matrices = [p for p in params if p.ndim == 2]",
    "others = [p for p in params if p.ndim != 2]",
]


_SKIP = ["if p.grad is None:  # torch.optim skips a parameter without a gradient", "    continue"]


def manual_loop(
    parts: list[Part], spec: RunSpec, own_model: bool, sparse: bool
) -> tuple[list[str], list[str], list[str]]:
    """The hand-written loop: each optimizer's rule written out (``Optimizer.script``)."""
    setup: list[str] = list(_SPLIT) if len(parts) > 1 else []
    update: list[str] = []
    imports: list[str] = []
    for i, (part, optimizer, hyperparameters) in enumerate(parts):
        if manual_rule(optimizer, spec.impl, part) is not optimizer.rule:
            raise GradcliError(
                "--print-script: a script writes torch's for-loop rule, and this run would "
                f"use {optimizer.name}'s foreach rule; add --impl forloop"
            )
        assert optimizer.script is not None
        snippet = _apart(optimizer.script(hyperparameters, sparse), setup, optimizer.name)
        setup += snippet.settings
        imports += snippet.imports
        chosen = "params" if len(parts) == 1 else _choose(i == 0)
        states = "states" if len(parts) == 1 else f"states_{optimizer.name}"
        inner = [*(_SKIP if own_model else []), "grad = p.grad"]
        if snippet.state is not None:
            setup += _state_lines(states, snippet.state, chosen)
            inner.append(f"state = {states}[p]")
        inner += snippet.update
        update += [
            f"    # torch.optim.{optimizer.torch_class}'s arithmetic, parameter by parameter",
            f"    for p in {chosen}:",
            *("        " + line for line in inner),
        ]
    body = [
        "# 1. forward: the loss at the current parameters",
        "loss = model()",
        "# 2. backward: autograd puts the gradient of the loss into each p.grad",
        "loss.backward()",
        *_keep(own_model),
        "# 3. update by hand, in place, where autograd does not look",
        "with torch.no_grad():",
        *update,
        "# 4. zero the gradients: drop them, as optimizer.zero_grad() does (since torch 2.0)",
        "for p in params:",
        "    p.grad = None",
        "# 5. log",
    ]
    return body, setup, imports


def _apart(snippet: Snippet, setup: list[str], suffix: str) -> Snippet:
    """``snippet`` with each setting that a line of ``setup`` already names (Muon's eps and
    AdamW's, say) renamed ``name_suffix``, in its lines too."""
    taken = {n.strip() for line in setup for n in line.split("=")[0].split(",")}
    mine = {n.strip() for line in snippet.settings for n in line.split("=")[0].split(",")}
    clash = re.compile(r"\b(" + "|".join(sorted(taken & mine)) + r")\b")
    if not taken & mine:
        return snippet

    def rename(lines: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(clash.sub(lambda m: f"{m.group(1)}_{suffix}", line) for line in lines)

    return replace(snippet, settings=rename(snippet.settings), update=rename(snippet.update))
