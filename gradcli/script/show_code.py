"""``--show-code``: the training loop a run executes, written out as the Python it runs.

Each path is shown with this run's numbers filled in: ``optim`` as the four lines of
``torch.optim``, ``manual`` as the hand-written loop (the update under ``torch.no_grad()``,
the gradients dropped by ``p.grad = None``) followed by the source of the rule it calls and
of the gradcli helpers that rule calls, read from their modules by
``gradcli.script.source`` (as ``--print-script`` reads them), so what is shown is what runs.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from gradcli import optimizers
from gradcli.optimizers.catalog import plain
from gradcli.script.source import gather
from gradcli.train.updates import ManualUpdate, OptimUpdate


def _keywords(lr: float, hyperparameters: dict[str, object]) -> str:
    return ", ".join([f"lr={lr:g}", *(f"{k}={plain(v)}" for k, v in hyperparameters.items())])


def _wrapped(line: str, indent: int) -> list[str]:
    """A long call broken between its arguments, the rest indented by ``indent``."""
    return textwrap.wrap(
        line, 88, subsequent_indent=" " * indent, break_long_words=False, break_on_hyphens=False
    )


def _model(model: str) -> str:
    if ":" in model:
        return f"model = {model.rpartition(':')[2]}()  # --model {model}"
    return f"model = gradcli.problems.build({model!r})  # forward() returns the loss"


def optim_listing(update: OptimUpdate, model: str, steps: int) -> str:
    lines = [_model(model)]
    names: list[str] = []
    for optimizer in update.optimizers:
        (group,) = optimizer.param_groups
        described = next(
            o for o in optimizers.catalog().values() if o.torch_class == type(optimizer).__name__
        )
        keys = [h.name for h in described.hyperparameters]
        keys += [k for k in ("foreach", "fused") if group.get(k) is not None]  # --impl
        settings = {k: group[k] for k in keys if k in group}
        lr = group["lr"]
        params, name = "model.parameters()", "optimizer"
        if len(update.optimizers) > 1:  # (Muon: the matrices; the others go to AdamW)
            params, name = f"{described.name}_params", f"{described.name}_optimizer"
            lines.append(f"# {params}: the parameters {described.name} trains")
            names.append(name)
        lines += _wrapped(
            f"{name} = torch.optim.{type(optimizer).__name__}({params}, {_keywords(lr, settings)})",
            4,
        )
    if names:  # one optimizer per part, each stepped in turn
        lines.append(f"optimizers = [{', '.join(names)}]")
    if update.closure:
        body = [
            "def closure():  # the optimizer evaluates the loss itself, several times",
            "    optimizer.zero_grad()",
            "    loss = model()",
            "    loss.backward()",
            "    return loss",
            "",
            "loss = optimizer.step(closure)",
        ]
    else:
        body = [
            "optimizer.zero_grad()  # the gradients set to None",
            "loss = model()  # forward",
            "loss.backward()  # autograd fills p.grad",
            "optimizer.step()  # the update, in place",
        ]
    if names:
        body = [
            line.replace("optimizer.", "for optimizer in optimizers: optimizer.", 1)
            for line in body
        ]
    lines.append(f"for step in range(1, {steps + 1}):")
    lines += [f"    {line}" if line else "" for line in body]
    return "\n".join(lines) + "\n"


def manual_listing(update: ManualUpdate, model: str, steps: int) -> str:
    lines = [
        _model(model),
        "state = {p: {} for p in model.parameters()}  # torch.optim's keys, made on first use",
        f"for step in range(1, {steps + 1}):",
        "    loss = model()  # forward",
        "    loss.backward()  # autograd fills p.grad",
    ]
    if update.closure:
        lines += [
            "",
            "    def closure():  # the rule evaluates the loss itself, several times",
            "        with torch.enable_grad():",
            "            for p in model.parameters():",
            "                p.grad = None",
            "            loss = model()",
            "            loss.backward()",
            "        return loss",
            "",
        ]
    lines.append("    with torch.no_grad():  # the update is not part of the graph")
    rules: list[Callable[..., Any]] = []
    for (part, described, hyperparameters), rule in zip(update.parts, update.rules, strict=True):
        kept = "model.parameters()"
        if len(update.parts) > 1:  # (Muon: the matrices; the others go to AdamW)
            kept = f"{described.name}_params"
            lines.append(f"        # {kept}: the {len(part)} parameters {described.name} trains")
            if described.takes is not None:  # (which: the function below says)
                rules.append(described.takes)
        if update.closure:
            call = f"{rule.__name__}(params, grads, states, closure=closure, "
        else:
            call = f"{rule.__name__}(params, grads, states, "
        lines += [
            f"        params = [p for p in {kept} if p.grad is not None]",
            "        grads, states = [p.grad for p in params], [state[p] for p in params]",
            *_wrapped(f"        {call}{_keywords(update.lr, hyperparameters)})", 12),
        ]
        rules.append(rule)
    lines += [
        "    for p in model.parameters():",
        "        p.grad = None  # what optimizer.zero_grad() does",
    ]
    for definition in gather(*dict.fromkeys(rules)).definitions:
        lines += ["", "", f"# {definition.name}, from {definition.where}:"]
        lines.append(definition.code.rstrip("\n"))
    return "\n".join(lines).rstrip("\n") + "\n"


def listing(update: ManualUpdate | OptimUpdate, model: str, steps: int) -> str:
    """The loop ``update``'s path runs, for ``steps`` steps of ``model``."""
    if isinstance(update, ManualUpdate):
        return manual_listing(update, model, steps)
    return optim_listing(update, model, steps)
