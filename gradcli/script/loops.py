"""The loop of a script, in commented phases: torch.optim's (``optim_loop``) or gradcli's
hand-written rules (``manual_loop``), with the set-up lines each needs and the gradcli
functions the script must define (the rules, the ``Optimizer.takes`` that splits the
parameters), whose source ``source.gather`` reads from their modules.

The manual loop calls each optimizer's for-loop rule the way gradcli's manual path calls it
(``gradcli/train/updates.py``): the parameters that have a gradient, their gradients, their
state dicts, ``lr`` and the hyperparameters as keywords (literals that keep every bit).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from gradcli.errors import GradcliError
from gradcli.script.explained import prior_lines, scheduled_lines
from gradcli.script.extras import (
    CLIP_STEP,
    clip_function,
    lr_of_the_update,
    renamed,
    rule_lines,
    schedule_step,
    scheduler_lines,
)
from gradcli.script.literals import call, literal
from gradcli.script.passes import CLOSED, Forward, passes, under
from gradcli.script.scaling import explained_lines, scaler_lines, step_lines, unscale_lines
from gradcli.spec import RunSpec
from gradcli.train.clipping import Clipping
from gradcli.train.updates import Part, impl_kwargs, manual_rule

Functions = list[Callable[..., Any]]


def _changed(part: Part) -> list[str]:
    """The constructor's keywords that differ from torch's defaults, as source."""
    _, optimizer, hyperparameters = part
    return [
        f"{k}={literal(v)}"
        for k, v in hyperparameters.items()
        if v != optimizer.defaults[k] or type(v) is not type(optimizer.defaults[k])
    ]


def _keep(own_model: bool, spec: RunSpec, path: str, optimizers: list[str]) -> list[str]:
    """Lines that keep what the log shows: the gradients and the parameters before the
    update (a user's model may leave a parameter without a gradient), and with --explain
    the first elements of the state."""
    grads = "None if p.grad is None else p.grad.clone()" if own_model else "p.grad.clone()"
    return [
        "# keep what the log shows: the gradients and the parameters before the update",
        f"grads = [{grads} for p in params]",
        "before = [p.detach().clone() for p in params]",
        *(prior_lines(path, optimizers) if spec.explain else []),
    ]


def _chosen(parts: list[Part], i: int) -> str:
    """The name of the list of parameters part ``i`` trains."""
    return "params" if len(parts) == 1 else f"{parts[i][1].name}_params"


def _split(parts: list[Part]) -> tuple[list[str], Functions]:
    """Where an optimizer takes only some parameters (Muon: ``takes``, the 2-D ones), the
    lines that split them as ``gradcli.train.updates.assign`` does, and the function they
    call."""
    if len(parts) == 1:
        return [], []
    (_, optimizer, _), (_, rest, _) = parts
    takes = optimizer.takes
    assert takes is not None
    return [
        f"# {optimizer.name} trains the parameters {takes.__name__}() takes; {rest.name}, at "
        "torch's defaults, the rest",
        f"{_chosen(parts, 0)} = [p for p in params if {takes.__name__}(tuple(p.shape))]",
        f"{_chosen(parts, 1)} = [p for p in params if not {takes.__name__}(tuple(p.shape))]",
    ], [takes]


def optimizer_names(parts: list[Part]) -> list[str]:
    """The optimizers' names in a script: ``optimizer``, or one for each of two
    (``optimizer_muon``, ``optimizer_adamw``)."""
    return ["optimizer"] if len(parts) == 1 else [f"optimizer_{o.name}" for _, o, _ in parts]


def optim_loop(
    parts: list[Part],
    spec: RunSpec,
    device: torch.device,
    own_model: bool,
    forward: Forward = CLOSED,
) -> tuple[list[str], list[str], Functions]:
    """The torch.optim loop: one optimizer (Muon: and AdamW for what it does not take)."""
    setup, functions = _split(parts)
    names = optimizer_names(parts)
    for i, (part, name) in enumerate(zip(parts, names, strict=True)):
        optimizer = part[1]
        torch_class = getattr(torch.optim, optimizer.torch_class)
        takes = inspect.signature(torch_class).parameters
        flags = [
            f"{k}={v}" for k, v in impl_kwargs(optimizer, spec.impl, device).items() if k in takes
        ]
        arguments = [_chosen(parts, i), "lr=lr", *_changed(part), *flags]
        setup += call(f"{name} = torch.optim.{optimizer.torch_class}", arguments, 0)
    schedule = spec.schedule_spec
    schedulers = tuple(renamed(names, "scheduler"))
    if schedule is not None:
        for name in names:  # (one on each optimizer, as gradcli builds them)
            setup += scheduler_lines(schedule, name)
    scaled = spec.amp == "fp16"
    if scaled:
        setup += scaler_lines(spec, "optim", device)
    clipping = Clipping.of(spec)
    if clipping is not None:
        setup += clip_function(clipping, "optim")
    step = ["# 4. update: torch.optim's step", *(f"{n}.step()" for n in names)]
    if scaled:
        step = step_lines(names)
    if parts[0][1].closure:
        clip = clipping is not None  # (its function ends with a blank line)
        setup += _closure(forward, ["optimizer.zero_grad()"], clip, int(clip))
        step = [step[0], "evaluations = 0", "optimizer.step(closure)"]
    body = [
        "# 1. zero the gradients (optimizer.zero_grad() drops them: sets them to None)",
        *(f"{n}.zero_grad()" for n in names),
        *passes(forward, 2, spec.amp),
        *(unscale_lines("optim", names, _micro_logged(forward), spec.explain) if scaled else []),
        *(CLIP_STEP if clipping is not None else []),
        *_keep(own_model, spec, "optim", names),
        *(lr_of_the_update(f"{names[0]}.param_groups[0]") if schedule is not None else []),
        *scheduled_lines(spec, [f"{n}.param_groups[0]" for n in names], parts, forward.depth),
        *step,
        *(
            schedule_step(schedule, f"{names[-1]}.step()", spec.save is not None, schedulers)
            if schedule is not None and _per_step(spec)
            else []
        ),
        *(explained_lines(spec) if scaled else []),
        "# 5. log",
    ]
    return body, setup, functions


def _micro_logged(forward: Forward) -> bool:
    """Whether the log shows the micro-batches' norms (which --amp fp16 unscales)."""
    return forward.micro is not None and forward.micro.logged


def _per_step(spec: RunSpec) -> bool:
    """Whether the schedule steps after each update (not at the end of each epoch)."""
    return spec.schedule_spec is not None and not (
        spec.data is not None and spec.schedule_per == "epoch"
    )


def _closure(
    forward: Forward, zero_grad: list[str], clip: bool = False, blank: int = 0
) -> list[str]:
    """The closure of an optimizer that evaluates the loss itself (LBFGS), which drops the
    gradients with ``zero_grad`` (lines) before it evaluates the forward ``again`` (and clips
    the new gradients, with ``clip``), after the ``blank`` lines the set-up ends with."""
    return [
        *([""] * (2 - blank)),
        "def closure() -> torch.Tensor:",
        '    """LBFGS evaluates the loss itself, as often as its line search needs: first the',
        '    loss this step has already computed, then again at each point it tries."""',
        "    global evaluations",
        "    evaluations += 1",
        "    if evaluations == 1:",
        "        return loss",
        *(f"    {line}" for line in zero_grad),
        *("    " + line for line in under(forward.autocast, [f"again = {forward.again}"])),
        "    again.backward()",
        *(["    clip()"] if clip else []),
        "    return again",
        "",
    ]


def manual_loop(
    parts: list[Part], spec: RunSpec, own_model: bool, forward: Forward = CLOSED
) -> tuple[list[str], list[str], Functions]:
    """The hand-written loop: each part's for-loop rule, called as gradcli calls it."""
    setup, functions = _split(parts)
    setup.append("states = {p: {} for p in params}  # each parameter's state, under torch's keys")
    suffixes = [""] if len(parts) == 1 else [f"_{optimizer.name}" for _, optimizer, _ in parts]
    schedule = spec.schedule_spec
    if schedule is not None:  # (one for each optimizer's parameters, as gradcli has them)
        for suffix, (_, _, hyperparameters) in zip(suffixes, parts, strict=True):
            setup += rule_lines(schedule, hyperparameters, suffix)
    driven = schedule is not None and schedule.drives_momentum
    scaled = spec.amp == "fp16"
    if scaled:
        setup += scaler_lines(spec, "manual", torch.device("cpu"))
    clipping = Clipping.of(spec)
    if clipping is not None:
        setup += clip_function(clipping, "manual")
    closure = parts[0][1].closure
    if closure:
        setup += _closure(
            forward,
            ["for p in params:  # as optimizer.zero_grad()", "    p.grad = None"],
            clipping is not None,
            int(clipping is not None),
        )
    update: list[str] = []
    for i, (part, optimizer, hyperparameters) in enumerate(parts):
        rule = manual_rule(optimizer, spec.impl, part)
        if rule is not optimizer.rule:
            raise GradcliError(
                "--print-script: a script writes torch's for-loop rule, and this run would "
                f"use {optimizer.name}'s foreach rule; add --impl forloop"
            )
        functions.append(rule)
        chosen, group = _chosen(parts, i), f"group{suffixes[i]}"
        keywords = [
            f'{k}={group}["{k}"]' if driven and k in ("momentum", "betas") else f"{k}={literal(v)}"
            for k, v in hyperparameters.items()
        ]
        lr = f'lr={group}["lr"]' if schedule is not None and len(parts) > 1 else "lr=lr"
        if closure:  # like torch's LBFGS: every parameter, and the closure
            update += [
                "evaluations = 0",
                *call(
                    rule.__name__,
                    [
                        chosen,
                        f"[p.grad for p in {chosen}]",
                        f"[states[p] for p in {chosen}]",
                        lr,
                        "closure=closure",
                        *keywords,
                    ],
                    forward.depth + 4,
                ),
            ]
            continue
        depth = forward.depth + 4 + 4 * scaled
        rule_call = [
            f"stepped = [p for p in {chosen} if p.grad is not None]",
            *call(
                rule.__name__,
                [
                    "stepped",
                    "[p.grad for p in stepped]",
                    "[states[p] for p in stepped]",
                    lr,
                    *keywords,
                ],
                depth,
            ),
        ]
        if scaled:  # as scaler.step(optimizer): no update where unscale_ found an inf or NaN
            rule_call = [f"if not scaler.skips({i}):", *("    " + line for line in rule_call)]
        update += [
            f"# {optimizer.name} (above), as gradcli's manual path calls it: the parameters",
            "# with a gradient (torch.optim skips the others), their gradients, states and",
            "# hyperparameters",
            *rule_call,
        ]
    chosen_parts = [_chosen(parts, i) for i in range(len(parts))]
    body = [
        *passes(forward, 1, spec.amp),
        *(
            unscale_lines("manual", chosen_parts, _micro_logged(forward), spec.explain)
            if scaled
            else []
        ),
        *(CLIP_STEP if clipping is not None else []),
        *_keep(own_model, spec, "manual", []),
        *(lr_of_the_update(f"group{suffixes[0]}") if schedule is not None else []),
        *scheduled_lines(spec, [f"group{s}" for s in suffixes], parts, forward.depth),
        "# 3. update by hand, in place, where autograd does not look",
        "with torch.no_grad():",
        *("    " + line for line in update),
        *(
            [
                "# then S halves after a skipped step, or doubles after growth_interval steps in",
                "# a row without one (update(), as torch's)",
                "scaler.update()",
            ]
            if scaled
            else []
        ),
        *(
            schedule_step(
                schedule,
                "the update",
                spec.save is not None,
                tuple(f"scheduler{s}" for s in suffixes),
            )
            if schedule is not None and _per_step(spec)
            else []
        ),
        *(explained_lines(spec) if scaled else []),
        "# 4. zero the gradients: drop them, as optimizer.zero_grad() does (since torch 2.0)",
        "for p in params:",
        "    p.grad = None",
        "# 5. log",
    ]
    return body, setup, functions
