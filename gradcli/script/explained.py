"""``--explain`` in a script: each shown step's record gets gradcli's lines, the update of
each parameter's first element in numbers, written by the optimizer's own formula
(``explain`` of its module) through ``gradcli.optimizers.formula.explain_line``, both
gathered from their source; the numbers are taken as gradcli's loop takes them
(``gradcli/train/loop.py``: ``_element``, and the state's first elements before and after
the update)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradcli.optimizers.formula import explain_line
from gradcli.script.extras import number
from gradcli.script.literals import LINE_LENGTH, literal
from gradcli.script.source import Gathered, gather
from gradcli.spec import RunSpec
from gradcli.train.clipping import EPS, Clipping
from gradcli.train.clipping import explain as explain_clip
from gradcli.train.loop import _element
from gradcli.train.loss_scaling import explain as explain_scaling


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
    return [explain_line, spec.optimizer_info.explain, _element]


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


def explain_definitions(spec: RunSpec, path: str, optimizers: list[str]) -> list[str]:
    """``HYPERPARAMETERS``, ``first_elements`` and ``explained``: the lines of a step, as
    gradcli writes them, from the formula and ``explain_line`` (gathered above)."""
    entries = [f'"{k}": {literal(v)}' for k, v in spec.hyperparameters().items()]
    one_line = f"HYPERPARAMETERS = {{{', '.join(entries)}}}"
    hyperparameters = (
        [one_line]
        if len(one_line) <= LINE_LENGTH
        else ["HYPERPARAMETERS = {", *(f"    {e}," for e in entries), "}"]
    )
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
        "    optimizer's formula (explain, above), as gradcli writes it; a parameter without",
        '    a gradient is left out."""',
        f"    after = first_elements({state_list(path, optimizers)})",
        "    lines = []",
        *(_SCALING_FIRST if scaled else []),
        *_clip_lines(spec),
        "    named = model.named_parameters()",
        "    for (name, p), grad, old, was, now in zip("
        "named, grads, before, prior, after, strict=True):",
        *(_SKIPPED if scaled else []),
        "        if grad is not None:",
        "            first = [t.reshape(-1)[0].item() for t in (old, dense(grad), p.detach())]",
        "            element = Element(name, step, lr, *first, was, now)",
        "            lines.append(explain_line(explain, HYPERPARAMETERS, element))",
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
