"""``--explain`` in a script: each shown step's record gets gradcli's lines, the update of
each parameter's first element in numbers, written by the optimizer's own formula
(``explain`` of its module) through ``gradcli.optimizers.formula.explain_line``, both
gathered from their source; the numbers are taken as gradcli's loop takes them
(``gradcli/train/loop.py``: ``_element``, and the state's first elements before and after
the update). With ``--schedule`` the lr's line comes first (``lr_line``, and the closed form
by the rule's ``closed_words``); Muon's formula is its ``explain_with``, given AdamW's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradcli.optimizers import find
from gradcli.optimizers.formula import explain_line
from gradcli.schedules.schedule import lr_line
from gradcli.schedules.schedule_spec import ScheduleSpec
from gradcli.script.extras import number
from gradcli.script.literals import LINE_LENGTH, call, literal
from gradcli.script.source import Gathered, gather
from gradcli.spec import RunSpec
from gradcli.train.clipping import EPS, Clipping
from gradcli.train.clipping import explain as explain_clip
from gradcli.train.loop import _element
from gradcli.train.loss_scaling import explain as explain_scaling
from gradcli.train.updates import Part


def _clipping(spec: RunSpec) -> str:
    """``Clipping(...)``: the run's, as source."""
    clipping = Clipping.of(spec)
    assert clipping is not None
    values = (clipping.max_norm, clipping.norm_type, clipping.clip_value)
    fields = ("max_norm", "norm_type", "clip_value")
    words = [
        f"{k}={'None' if v is None else number(v)}" for k, v in zip(fields, values, strict=True)
    ]
    return f"Clipping({', '.join(words)})"


def explain_functions(spec: RunSpec) -> list[Callable[..., Any]]:
    """What a script with ``--explain`` gathers from gradcli: the optimizer's formula, the
    function that writes it as a line, and how the loop takes a state value's element."""
    schedule = [lr_line] if spec.schedule is not None else []  # (the lr's line)
    optimizer = spec.optimizer_info
    if optimizer.explain_with is not None:  # (Muon: its formula, given AdamW's)
        formulas = [optimizer.explain_with, find(optimizer.rest or "").explain]
        return [explain_line, *formulas, _element, *schedule]
    return [explain_line, optimizer.explain, _element, *schedule]


def explain_imports(spec: RunSpec) -> list[str]:
    """What ``explain_definitions`` needs imported: ``partial``, for Muon's formula."""
    return ["from functools import partial"] if _formula_with(spec) else []


def _formula_with(spec: RunSpec) -> bool:
    """Whether the formula is given the other optimizer's (``Optimizer.explain_with``)."""
    return spec.explain and spec.optimizer_info.explain_with is not None


def _hyperparameters(name: str, values: dict[str, Any]) -> list[str]:
    """``NAME = {...}``, on one line or one entry a line, as ruff format lays it out."""
    return _dictionary(name, {k: literal(v) for k, v in values.items()})


def _dictionary(name: str, values: dict[str, str], depth: int = 0) -> list[str]:
    """``name = {...}`` of the expressions ``values`` at ``depth`` spaces (the lines are
    returned without them): on one line, or one entry a line, as ruff format lays it out."""
    entries = [f'"{k}": {v}' for k, v in values.items()]
    one_line = f"{name} = {{{', '.join(entries)}}}"
    if depth + len(one_line) <= LINE_LENGTH:
        return [one_line]
    return [f"{name} = {{", *(f"    {e}," for e in entries), "}"]


def _drives_momentum(spec: RunSpec) -> bool:
    """With ``--explain``: whether the schedule sets the momentum or β1 of each update
    (OneCycleLR, CyclicLR with cycle_momentum), which the formula then reads."""
    return spec.explain and spec.schedule_spec is not None and spec.schedule_spec.drives_momentum


def scheduled_lines(spec: RunSpec, groups: list[str], parts: list[Part], depth: int) -> list[str]:
    """Before the update, with ``--explain`` and a schedule that drives momentum:
    ``scheduled``, the momentum or betas each param group (``groups``: the source of each
    of ``parts``' groups) holds for this update, as gradcli reads them before ``step()``
    (``gradcli.schedules.schedule.driven``); the scheduler moves them after."""
    if not _drives_momentum(spec):
        return []
    keys = [
        "betas" if "betas" in hyperparameters else "momentum" for _, _, hyperparameters in parts
    ]
    values = {k: f'{group}["{k}"]' for k, group in zip(keys, groups, strict=True)}
    what = " and ".join("β1 (betas)" if k == "betas" else "momentum" for k in values)
    return [
        f"# (--explain) the {what} this update uses (the scheduler moves "
        f"{'them' if len(values) > 1 else 'it'} after)",
        *_dictionary("scheduled", values, depth),
    ]


def _string(name: str, text: str) -> list[str]:
    """``NAME = "text"``; where that is too long a line, the string in parentheses, cut
    after its commas into pieces that fit where it does not fit whole (as ruff format
    leaves them)."""
    one_line = f"{name} = {literal(text)}"
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    if len(literal(text)) <= LINE_LENGTH - 4:  # (ruff format joins pieces that fit whole)
        return [f"{name} = (", f"    {literal(text)}", ")"]
    pieces = [""]
    for word in text.split(", "):
        fits = len(literal(pieces[-1] + word + ", ")) <= LINE_LENGTH - 4
        if pieces[-1] and not fits:
            pieces.append("")
        pieces[-1] += word + ", "
    pieces[-1] = pieces[-1].removesuffix(", ")
    return [f"{name} = (", *(f"    {literal(piece)}" for piece in pieces), ")"]


def _other_formula(spec: RunSpec) -> list[str]:
    """With Muon: ``formula``, its formula (``explain_with``) given the other optimizer's
    (``explain``) at the hyperparameters that one trains with, as gradcli's catalog gives
    them (``gradcli.optimizers.muon.explain``)."""
    if not _formula_with(spec):
        return []
    name = spec.optimizer_info.rest or ""
    other = find(name)
    constant = f"{name.upper()}_HYPERPARAMETERS"
    own = spec.optimizer_info.torch_class
    return [
        "",
        f"# {other.torch_class}'s hyperparameters, for the parameters {own} does not take",
        *_hyperparameters(constant, other.defaults),
        f"# {own}'s formula (explain_with), given {other.torch_class}'s (explain) for those",
        *call("formula = partial", ["explain_with", literal(name), "explain", constant], 0),
    ]


def _closed(spec: RunSpec) -> ScheduleSpec | None:
    """With ``--explain``: the run's schedule, where the lr's line gives its closed form
    (``Rule.closed_words``: a scheduler torch has one for, not nested)."""
    schedule = spec.schedule_spec
    if not spec.explain or schedule is None or schedule.scheduler.nests:
        return None
    return schedule if schedule.scheduler.rule.closed else None


def explain_rules(spec: RunSpec) -> tuple[tuple[type, tuple[str, ...]], ...]:
    """With ``--explain`` and a schedule with a closed form: its hand-written rule, with the
    method the lr's line calls on a rule built afresh (``closed_words``), for
    ``source.gather`` (``called``); on the optim path too, as gradcli computes it there."""
    schedule = _closed(spec)
    return () if schedule is None else ((schedule.scheduler.rule, ("closed_words",)),)


def _lr_lines(spec: RunSpec, lr: float) -> list[str]:
    """In ``explained``: the lr's line first, which schedule gave the lr after how many of
    its steps, one an update or one an epoch (``lr_line``; where it drives momentum, the
    momentum or β1 it set), and torch's closed form there by a rule built afresh on the
    run's lr, as gradcli builds one (``gradcli.schedules.schedule.explain_lr``)."""
    schedule = _closed(spec)
    if spec.schedule_spec is None:
        return ["    lines = []"]
    per_epoch = spec.data is not None and spec.schedule_per == "epoch"
    stepped, per = ("epoch - 1", '"epoch"') if per_epoch else ("step - 1", '"step"')
    arguments = ["SCHEDULE", stepped, "lr"]
    if _drives_momentum(spec):
        arguments += [per, "scheduled"]
    elif per_epoch:
        arguments.append(per)
    said = f"lr_line({', '.join(arguments)})"
    each = "epoch" if per_epoch else "update"
    if schedule is None:
        return [
            f"    # the lr's line first: its schedule, stepped once after each earlier {each}",
            f"    lines = [{said}]",
        ]
    keywords = [f"{k}={literal(v)}" for k, v in schedule.keywords.items()]
    built = [f'{{"lr": {literal(lr)}}}', *keywords]
    return [
        f"    # the lr's line first: its schedule, stepped once after each earlier {each}, and",
        "    # torch's closed form there by a rule built afresh (as gradcli builds one)",
        *("    " + line for line in call(f"rule = {schedule.scheduler.rule.__name__}", built, 4)),
        f"    lines = [{said} + rule.closed_words({stepped}, lr)]",
    ]


def clip_explanation(spec: RunSpec) -> Gathered | None:
    """With ``--explain`` and clipping: the line of the step's clipping (gradcli's
    ``gradcli.train.clipping.explain``, and the ``Clipping`` it reads), gathered apart from
    the optimizer's formula, which is named ``explain`` too."""
    if not spec.explain or Clipping.of(spec) is None:
        return None
    return gather(explain_clip)


def scaling_explanation(spec: RunSpec) -> Gathered | None:
    """With ``--explain`` and ``--amp fp16``: the lines of the step's loss scaling
    (gradcli's ``gradcli.train.loss_scaling.explain``), gathered apart from the optimizer's
    formula, which is named ``explain`` too."""
    if not spec.explain or spec.amp != "fp16":
        return None
    return gather(explain_scaling)


def _clip_lines(spec: RunSpec) -> list[str]:
    """In ``explained``: the clipping's line first, from the norm and whether it clipped
    (and by norm, c = min(max_norm / (N + 1e-6), 1), computed again as torch computes it)."""
    clipping = Clipping.of(spec)
    if clipping is None:
        return []
    if clipping.max_norm is None:
        c = "None  # (by value: no coefficient)"
    else:
        c = f"torch.clamp({number(clipping.max_norm)} / (grad_norm + {EPS!r}), max=1.0).item()"
    return [
        "    # the clipping's line first: the total norm, and whether it clipped",
        f"    c = {c}",
        "    lines.append(explain_clip(CLIPPING, grad_norm.item(), bool(clipped), c))",
    ]


def state_list(path: str, optimizers: list[str]) -> str:
    """The expression of every parameter's optimizer state, in order."""
    if path != "optim":
        return "[states[p] for p in params]"
    if len(optimizers) == 1:
        return f"[{optimizers[0]}.state.get(p, {{}}) for p in params]"
    return "[optimizer_state(p) for p in params]"


def prior_lines(path: str, optimizers: list[str]) -> list[str]:
    """Before the update: the first element of each state value, for --explain."""
    return [
        "# (--explain) the first element of each state value, before the update",
        f"prior = first_elements({state_list(path, optimizers)})",
    ]


def explain_definitions(spec: RunSpec, path: str, optimizers: list[str], lr: float) -> list[str]:
    """``HYPERPARAMETERS``, ``first_elements`` and ``explained``: the lines of a step, as
    gradcli writes them, from the formula and ``explain_line`` (gathered above); with a
    schedule, ``SCHEDULE`` and the lr's line first (``lr``: the run's, a fresh rule's)."""
    hyperparameters = _hyperparameters("HYPERPARAMETERS", spec.hyperparameters())
    formula = "formula" if _formula_with(spec) else "explain"  # (Muon's: given AdamW's)
    clipping = Clipping.of(spec) is not None
    scaled = spec.amp == "fp16"
    arguments = "step: int, grads: list, before: list, prior: list[dict]" + (
        ", grad_norm: torch.Tensor, clipped: torch.Tensor" if clipping else ""
    )
    if scaled:
        arguments += ", scaling: tuple"  # (S, skipped, the growth tracker, the loss)
    if spec.optimizer_info.closure:  # LBFGS: every value on the first parameter, flat
        first = [
            "def first_elements(states: list[dict]) -> list[dict[str, float]]:",
            '    """Each parameter\'s first element of each state value (--explain): LBFGS keeps',
            "    its state on the first parameter, as flat vectors over every parameter, read",
            '    at each parameter\'s offset (as gradcli reads them)."""',
            "    shared, offset, elements = states[0], 0, []",
            "    for p in params:",
            "        elements.append(",
            "            {k: e.item() for k, v in shared.items() if (e := _element(v, offset)) "
            "is not None}",
            "        )",
            "        offset += p.numel()",
            "    return elements",
        ]
    else:
        first = [
            "def first_elements(states: list[dict]) -> list[dict[str, float]]:",
            '    """Each parameter\'s first element of each state value but "step" (--explain),',
            '    as gradcli takes them."""',
            "    return [",
            '        {k: e.item() for k, v in state.items() if k != "step" and '
            "(e := _element(v, 0)) is not None}",
            "        for state in states",
            "    ]",
        ]
    return [
        "",
        "# the run's hyperparameters, which --explain's formula reads",
        *hyperparameters,
        *(
            [
                "",
                "# the run's schedule, which --explain's line of the lr names",
                *_string("SCHEDULE", spec.schedule_spec.text),
            ]
            if spec.schedule_spec is not None
            else []
        ),
        *_other_formula(spec),
        "",
        "",
        *first,
        "",
        "",
        *(
            [
                "# the run's clipping, which its --explain line reads",
                f"CLIPPING = {_clipping(spec)}",
                "",
                "",
            ]
            if clipping
            else []
        ),
        *(
            [f"def explained({arguments}) -> list[str]:"]
            if len(f"def explained({arguments}) -> list[str]:") <= LINE_LENGTH
            else [
                "def explained(",
                *(f"    {a}," for a in arguments.split(", ")),
                ") -> list[str]:",
            ]
        ),
        '    """--explain: the update of each parameter\'s first element, in numbers, by the',
        f"    optimizer's formula ({formula}, above), as gradcli writes it; a parameter without",
        '    a gradient is left out."""',
        f"    after = first_elements({state_list(path, optimizers)})",
        *_lr_lines(spec, lr),
        *(_SCALING_FIRST if scaled else []),
        *_clip_lines(spec),
        "    named = model.named_parameters()",
        "    for (name, p), grad, old, was, now in zip("
        "named, grads, before, prior, after, strict=True):",
        *(_SKIPPED if scaled else []),
        "        if grad is not None:",
        "            first = [t.reshape(-1)[0].item() for t in (old, dense(grad), p.detach())]",
        "            element = Element(name, step, lr, *first, was, now"
        + (", scheduled)" if _drives_momentum(spec) else ")"),
        f"            lines.append(explain_line({formula}, HYPERPARAMETERS, element))",
        *(["    lines.append(updated)"] if scaled else []),
        "    return lines",
        "",
    ]


# --explain with --amp fp16: the scale and the unscale before the clipping's line, the
# parameters' lines say skipped where scaler.step() skipped the update, update()'s line last
_SCALING_FIRST = [
    "    # --amp fp16: the scale and the unscale first (S, skipped and the growth tracker",
    "    # before update(), the loss), update()'s line last (the scaler's state after it)",
    "    scale, skipped, tracker, loss = scaling",
    "    state = scaler.state_dict()",
    "    *scaled, updated = explain_scaling((scale, float(skipped), tracker), loss, state)",
    "    lines += scaled",
]
_SKIPPED = [
    "        if grad is not None and skipped:  # the rule did not run: say so (nor ask its",
    "            # formula: a first step skipped left no state to show)",
    "            lines.append(",
    '                f"{name}[0]: scaler.step() skipped the update; "',
    '                "θ and the optimizer state stay as they were"',
    "            )",
    "            continue",
]
