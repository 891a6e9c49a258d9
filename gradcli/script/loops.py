"""The loop of a script, in commented phases: torch.optim's (``optim_loop``) or gradcli's own
for-loop rules called by hand (``manual_loop``), with the set-up lines each needs.

The manual loop calls each rule the way ``gradcli.train.updates.ManualUpdate.step`` does: the
parameters (those with a gradient, where a user's model may leave one without), their
gradients, their state dicts, ``lr`` and the hyperparameters as keywords. The rules
themselves are written out from their modules (``source.gather``), not retyped.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

from gradcli.errors import GradcliError
from gradcli.script.layout import call, literal
from gradcli.spec import RunSpec

if TYPE_CHECKING:
    import torch

    from gradcli.train.updates import Part


def _changed(part: Part) -> list[str]:
    """The constructor's keywords that differ from torch's defaults, as source."""
    _, optimizer, hyperparameters = part
    return [
        f"{k}={literal(v)}"
        for k, v in hyperparameters.items()
        if v != optimizer.defaults[k] or type(v) is not type(optimizer.defaults[k])
    ]


def _keep(own_model: bool) -> list[str]:
    """Lines that keep what the log shows: the gradients and the parameters before the
    update (a user's model may leave a parameter without a gradient)."""
    grads = "None if p.grad is None else p.grad.clone()" if own_model else "p.grad.clone()"
    return [
        "# keep what the log shows: the gradients and the parameters before the update",
        f"grads = [{grads} for p in params]",
        "before = [p.detach().clone() for p in params]",
    ]


def split(parts: list[Part]) -> tuple[list[str], list[str], list[Callable[..., object]]]:
    """Which parameters each part trains, as ``gradcli.train.updates.assign`` decides: all of
    them (one part), or those the first optimizer's ``takes`` function takes and the others
    (Muon: the matrices; AdamW the rest). Returns each part's list name, the set-up lines,
    and the function a script writes out (``takes``)."""
    if len(parts) == 1:
        return ["params"], [], []
    (_, first, _), (_, rest, _) = parts
    takes = first.takes
    assert takes is not None
    mine, others = f"{first.name}_params", f"{rest.name}_params"
    lines = [
        f"# {first.torch_class} trains the parameters {takes.__name__}() takes; "
        f"{rest.torch_class}, at torch's defaults, the others",
        f"{mine} = [p for p in params if {takes.__name__}(tuple(p.shape))]",
        f"{others} = [p for p in params if not {takes.__name__}(tuple(p.shape))]",
    ]
    return [mine, others], lines, [takes]


def optim_loop(
    parts: list[Part], spec: RunSpec, device: torch.device, own_model: bool
) -> tuple[list[str], list[str], list[Callable[..., object]]]:
    """The torch.optim loop: one optimizer (Muon: and AdamW for what it does not take).
    Returns the loop's body, the set-up lines and the functions they call."""
    import torch

    from gradcli.train.updates import impl_kwargs

    chosen, setup, functions = split(parts)
    names = []
    for part, params in zip(parts, chosen, strict=True):
        optimizer = part[1]
        name = "optimizer" if len(parts) == 1 else f"optimizer_{optimizer.name}"
        names.append(name)
        torch_class = getattr(torch.optim, optimizer.torch_class)
        takes = inspect.signature(torch_class).parameters
        flags = [
            f"{k}={v}" for k, v in impl_kwargs(optimizer, spec.impl, device).items() if k in takes
        ]
        arguments = [params, "lr=lr", *_changed(part), *flags]
        setup += call(f"{name} = torch.optim.{optimizer.torch_class}", arguments)
    step = [f"{n}.step()" for n in names]
    if parts[0][1].closure:
        setup += _closure("optimizer.zero_grad()")
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
    return body, setup, functions


def _closure(zero_grad: str) -> list[str]:
    """The closure LBFGS calls: the step's own loss first, then the loss at each point its
    line search tries (``gradcli.train.loop.Training._update``)."""
    return [
        "",
        "",
        "def closure() -> torch.Tensor:",
        '    """LBFGS evaluates the loss itself, as often as its line search needs: first the',
        '    loss this step has already computed, then again at each point it tries."""',
        "    global evaluations",
        "    evaluations += 1",
        "    if evaluations == 1:",
        "        return loss",
        *(f"    {line}" for line in zero_grad.splitlines()),
        "    again = model()",
        "    again.backward()",
        "    return again",
        "",
    ]


def manual_loop(
    parts: list[Part], spec: RunSpec, own_model: bool
) -> tuple[list[str], list[str], list[Callable[..., object]]]:
    """The hand-written loop: each part's for-loop rule called as gradcli's manual path calls
    it. Returns the loop's body, the set-up lines and the functions they call (the rules)."""
    from gradcli.train.updates import manual_rule

    chosen, setup, functions = split(parts)
    setup.append("states = {p: {} for p in params}  # torch.optim's keys, made on first use")
    update: list[str] = []
    closure = parts[0][1].closure
    for (part, optimizer, hyperparameters), params in zip(parts, chosen, strict=True):
        rule = manual_rule(optimizer, spec.impl, part)
        if rule is not optimizer.rule:
            raise GradcliError(
                "--print-script: a script writes torch's for-loop rule, and this run would "
                f"use {optimizer.name}'s foreach rule; add --impl forloop"
            )
        functions.append(rule)
        if own_model and not closure:
            update += [
                "# torch.optim skips a parameter without a gradient",
                f"stepped = [p for p in {params} if p.grad is not None]",
            ]
            params = "stepped"
        keywords = [f"{k}={literal(v)}" for k, v in hyperparameters.items()]
        arguments = [
            params,
            f"[p.grad for p in {params}]",
            f"[states[p] for p in {params}]",
            "lr=lr",
            *(["closure=closure"] if closure else []),
            *keywords,
        ]
        update += call(rule.__name__, arguments, width=92)  # (in the loop, in the with)
    if closure:
        setup += _closure("for p in params:\n    p.grad = None")
        update = ["evaluations = 0", *update]
    body = [
        "# 1. forward: the loss at the current parameters",
        "loss = model()",
        "# 2. backward: autograd puts the gradient of the loss into each p.grad",
        "loss.backward()",
        *_keep(own_model),
        "# 3. update by hand, in place, where autograd does not look: gradcli's rule",
        "with torch.no_grad():",
        *(f"    {line}" for line in update),
        "# 4. zero the gradients: drop them, as optimizer.zero_grad() does (since torch 2.0)",
        "for p in params:",
        "    p.grad = None",
        "# 5. log",
    ]
    return body, setup, functions
