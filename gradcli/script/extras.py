"""The phases a script adds to its loop for ``--clip-norm``/``--clip-value`` (a ``clip()``
function: torch.nn.utils on the optim path, its arithmetic by hand on the manual path) and for
``--schedule`` (torch's scheduler on the optim path; on the manual path gradcli's hand-written
rule, whose class ``source.gather`` writes out), as gradcli runs them
(``gradcli/train/clipping.py``, ``gradcli/train/updates.py``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gradcli.schedules.schedule_spec import ScheduleSpec
from gradcli.script.literals import call, literal
from gradcli.spec import RunSpec
from gradcli.train.clipping import EPS, Clipping


def number(value: float) -> str:
    """A float as source: ``math.inf`` where repr would write ``inf``."""
    if math.isinf(value):
        return "math.inf" if value > 0 else "-math.inf"
    return literal(value)


def clip_function(clipping: Clipping, path: str) -> list[str]:
    """``def clip()``: clips every gradient in place and returns the total norm before
    clipping and whether the clip changed a gradient, for the log."""
    lines = ["", "", "def clip() -> tuple[torch.Tensor, torch.Tensor]:"]
    grads = "    grads = [p.grad for p in params if p.grad is not None]"
    if clipping.max_norm is not None:
        max_norm, p = number(clipping.max_norm), number(clipping.norm_type)
        coefficient = f"    c = torch.clamp({max_norm} / (grad_norm + {EPS!r}), max=1.0)"
        if path == "optim":
            return [
                *lines,
                f'    """Clip by the total norm with torch (--clip-norm {clipping.max_norm:g}):',
                '    the norm N before clipping, and whether it clipped (c < 1)."""',
                f"    grad_norm = torch.nn.utils.clip_grad_norm_(params, {max_norm}, {p})",
                "    # torch returns N only; c = min(max_norm / (N + 1e-6), 1), as torch has it",
                coefficient,
                "    return grad_norm, c < 1.0",
                "",
            ]
        return [
            *lines,
            f'    """Clip by the total norm, by hand (--clip-norm {clipping.max_norm:g}), as',
            "    torch.nn.utils.clip_grad_norm_ computes it: N = ‖(‖g_1‖_p, …, ‖g_k‖_p)‖_p,",
            "    c = min(max_norm / (N + 1e-6), 1), g ← c·g for every gradient (also when c = 1).",
            '    Returns N, and whether it clipped (c < 1)."""',
            grads,
            f"    norms = [torch.linalg.vector_norm(g, {p}) for g in grads]",
            f"    grad_norm = torch.linalg.vector_norm(torch.stack(norms), {p})",
            coefficient,
            "    for g in grads:",
            "        g.mul_(c)",
            "    return grad_norm, c < 1.0",
            "",
        ]
    assert clipping.clip_value is not None
    value = number(clipping.clip_value)
    doc = [
        f'    """Clip every element of the gradients to ±{clipping.clip_value:g} (--clip-value):',
        "    the log shows their total 2-norm before clipping, and whether an element was",
        '    beyond the bound."""',
        grads,
    ]
    fired = f"    clipped = torch.stack([g.abs().amax() for g in grads]).amax() > {value}"
    if path == "optim":
        return [
            *lines,
            *doc,
            "    grad_norm = torch.nn.utils.get_total_norm(grads, 2.0)",
            fired,
            f"    torch.nn.utils.clip_grad_value_(params, {value})",
            "    return grad_norm, clipped",
            "",
        ]
    return [
        *lines,
        *doc,
        "    norms = [torch.linalg.vector_norm(g, 2.0) for g in grads]",
        "    grad_norm = torch.linalg.vector_norm(torch.stack(norms), 2.0)",
        fired,
        "    for g in grads:  # g ← min(max(g, −V), V)",
        f"        g.clamp_(min=-{value}, max={value})",
        "    return grad_norm, clipped",
        "",
    ]


def logged(spec: RunSpec, path: str, optimizers: list[str]) -> list[str]:
    """The keywords a step's ``log(...)`` call adds: the clipping's norm and verdict, and
    each parameter's state (``--state``: torch.optim's ``optimizer.state``, or with two
    optimizers ``optimizer_state``, ``STATE_OF_TWO``; the manual path's ``states``)."""
    words = []
    if spec.clip_norm is not None or spec.clip_value is not None:
        words += ["grad_norm=grad_norm", "clipped=clipped"]
    if spec.accumulate > 1:
        words += [f"{k}={k}" for k in ("micro_losses", "micro_grad_norms", "one_batch_ulps")]
    if spec.explain:
        clipping = ", grad_norm, clipped" if "grad_norm=grad_norm" in words else ""
        scaling = ", scaling" if spec.amp == "fp16" else ""
        words.append(f"explain=explained(step, grads, before, prior{clipping}{scaling})")
    if spec.state:
        if path != "optim":
            words.append("states=[states[p] for p in params]")
        elif len(optimizers) == 1:
            words.append(f"states=[{optimizers[0]}.state.get(p, {{}}) for p in params]")
        else:
            words.append("states=[optimizer_state(p) for p in params]")
    return words


def state_of_two(optimizers: list[str]) -> list[str]:
    """``def optimizer_state(p)``: the state of ``p`` in whichever optimizer trains it."""
    merged = ", ".join(f"**{o}.state.get(p, {{}})" for o in optimizers)
    return [
        "",
        "",
        "def optimizer_state(p: torch.Tensor) -> dict:",
        f'    """The optimizer state of p, in whichever of {", ".join(optimizers)} trains it."""',
        f"    return {{{merged}}}",
        "",
    ]


def log_step(spec: RunSpec, arguments: list[str], indent: int, stops: bool = False) -> list[str]:
    """The step's ``log(...)`` call (under ``--every``'s test), laid out as ruff format lays
    it out at ``indent`` spaces (the lines are returned without them). ``stops``: after it,
    the script stops where gradcli stops, at a step that diverged (exit 3); without it, the
    first line is ``--every``'s test."""
    logged = call("log", arguments, indent)
    if spec.every != 1:
        every = spec.every
        shown = " or not finite" if stops else ""
        test = f"if step % {every} == 0 or step == steps{shown}:  # --every {every}"
        logged = [test, *("    " + line for line in call("log", arguments, indent + 4))]
    if not stops:
        return logged
    return [*(_FINITE_FP16 if spec.amp == "fp16" else _FINITE), *logged, *_STOP]


# gradcli shows the step where the loss or a gradient stops being finite (--every or not),
# then stops (exit 3, ``Loop`` and ``_finite``); with --amp fp16 an inf in a gradient only
# skips the step
_FINITE = [
    "# gradcli stops after a step whose loss or a gradient is not finite (exit 3)",
    "present = [g.to_dense() if g.is_sparse else g for g in grads if g is not None]",
    "finite = math.isfinite(loss.item()) and all(bool(g.isfinite().all()) for g in present)",
]
_FINITE_FP16 = [
    "# gradcli stops after a step whose loss is not finite (exit 3; an inf in a gradient",
    "# only skips the update, under --amp fp16)",
    "finite = math.isfinite(loss.item())",
]
_STOP = [
    "if not finite:",
    '    print(f"step {step}: the loss or a gradient is not finite", file=sys.stderr)',
    "    sys.exit(3)",
]


CLIP_STEP = [
    "# clip the gradients (the log shows them clipped: what the update uses)",
    "grad_norm, clipped = clip()",
]


def renamed(optimizers: Sequence[str], what: str) -> list[str]:
    """The names of what belongs to each optimizer: ``scheduler`` for ``optimizer``,
    ``scheduler_muon`` for ``optimizer_muon`` (Muon trains with two)."""
    return [name.replace("optimizer", what, 1) for name in optimizers]


def scheduler_lines(spec: ScheduleSpec, optimizer: str = "optimizer") -> list[str]:
    """``scheduler = torch.optim.lr_scheduler.<Class>(optimizer, ...)``, the schedulers that
    SequentialLR and ChainedScheduler take built first, each in a variable of its own (for
    ``optimizer_muon``: ``scheduler_muon``, as gradcli builds one on each optimizer)."""
    (scheduler,) = renamed([optimizer], "scheduler")
    lines: list[str] = []
    counter = [0]

    def build(node: ScheduleSpec, name: str) -> None:
        keywords = {k: v for k, v in node.settings.items() if k != "schedulers"}
        arguments = [optimizer]
        if node.scheduler.nests:
            names = []
            for child in node.children():
                counter[0] += 1
                child_name = f"{scheduler}_{counter[0]}"
                build(child, child_name)
                names.append(child_name)
            listed = f"[{', '.join(names)}]"
            if node.scheduler.torch_class == "ChainedScheduler":
                arguments = [listed, f"optimizer={optimizer}"]
            else:
                arguments.append(f"schedulers={listed}")
        arguments += [f"{k}={literal(v)}" for k, v in keywords.items()]
        lines.extend(
            call(f"{name} = torch.optim.lr_scheduler.{node.scheduler.torch_class}", arguments, 0)
        )

    build(spec, scheduler)
    return lines


def rule_lines(
    spec: ScheduleSpec, hyperparameters: Mapping[str, Any], suffix: str = ""
) -> list[str]:
    """The hand-written schedule (gradcli's manual path, ``gradcli.schedules.schedule``):
    ``group``, torch's param_group by hand (the lr, and the momentum or betas a schedule may
    drive), and ``scheduler``, the rule built on it with every keyword; SequentialLR's and
    ChainedScheduler's schedulers first, each as what builds it on the group (``build_1``).
    ``suffix``: of each name, where each optimizer has its own (``group_muon``)."""
    lines: list[str] = []
    nested = [0]

    def arguments(node: ScheduleSpec) -> list[str]:
        words = []
        for k, v in node.keywords.items():
            if k != "schedulers":
                words.append(f"{k}={literal(v)}")
                continue
            names = []
            for child in node.children():
                nested[0] += 1
                names.append(f"build{suffix}_{nested[0]}")
                lines.extend(
                    call(
                        f"{names[-1]} = partial",
                        [child.scheduler.rule.__name__, *arguments(child)],
                        0,
                    )
                )
            words.append(f"schedulers=[{', '.join(names)}]")
        return words

    built = call(
        f"scheduler{suffix} = {spec.scheduler.rule.__name__}",
        [f"group{suffix}", *arguments(spec)],
        0,
    )
    driven = [k for k in ("momentum", "betas") if k in hyperparameters]
    entries = ", ".join(['"lr": lr', *(f'"{k}": {literal(hyperparameters[k])}' for k in driven)])
    moved = "its lr and momentum (or β1)" if spec.drives_momentum else "its lr"
    return [
        f"# the schedule by hand ({spec.scheduler.rule.__name__}, above), as gradcli's manual "
        "path runs it:",
        f"# group plays torch's param_group, {moved} the scheduler moves",
        f"group{suffix} = {{{entries}}}",
        *([_BUILT_FIRST] if lines else []),
        *lines,
        *built,
    ]


_BUILT_FIRST = "# the schedulers it builds on the group, in order, as torch builds them"


def rule_classes(spec: ScheduleSpec) -> tuple[type, ...]:
    """The rules a hand-written schedule builds (nested ones too), for ``source.gather``."""
    children = tuple(c for child in spec.children() for c in rule_classes(child))
    return (spec.scheduler.rule, *children)  # type: ignore[return-value]


def lr_of_the_update(source: str) -> list[str]:
    """``lr = ...``: the lr this update uses, read from ``source`` (torch's
    ``optimizer.param_groups[0]``, or the manual path's ``group``)."""
    return [
        "# the lr this update uses (the scheduler moves it after the update)",
        f'lr = {source}["lr"]',
    ]


# the lines of one optimizer's (torch's) and of the manual path's one group
LR_OF_THE_STEP = lr_of_the_update("optimizer.param_groups[0]")
LR_OF_THE_RULE = lr_of_the_update("group")


def schedule_step(
    spec: ScheduleSpec,
    after: str = "optimizer.step()",
    fed: bool = False,
    schedulers: tuple[str, ...] = ("scheduler",),
) -> list[str]:
    """scheduler.step() after the update, each of ``schedulers``; ReduceLROnPlateau is given
    the loss (and with ``fed``, the loss is kept for the checkpoint, which holds every loss
    it was fed)."""
    comment = f"# the schedule: scheduler.step() after {after}"
    if not spec.scheduler.needs_loss:
        return [comment, *(f"{s}.step()" for s in schedulers)]
    if fed:
        steps = [f"{s}.step(fed[-1])" for s in schedulers]
        return [comment, "fed.append(loss.item())  # (for --save)", *steps]
    if len(schedulers) > 1:
        return [comment, "fed_loss = loss.item()", *(f"{s}.step(fed_loss)" for s in schedulers)]
    return [comment, f"{schedulers[0]}.step(loss.item())"]
