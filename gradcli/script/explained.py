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
from gradcli.script.literals import LINE_LENGTH, literal
from gradcli.spec import RunSpec
from gradcli.train.loop import _element


def explain_functions(spec: RunSpec) -> list[Callable[..., Any]]:
    """What a script with ``--explain`` gathers from gradcli: the optimizer's formula, the
    function that writes it as a line, and how the loop takes a state value's element."""
    return [explain_line, spec.optimizer_info.explain, _element]


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
        "def explained(step: int, grads: list, before: list, prior: list[dict]) -> list[str]:",
        '    """--explain: the update of each parameter\'s first element, in numbers, by the',
        "    optimizer's formula (explain, above), as gradcli writes it; a parameter without",
        '    a gradient is left out."""',
        f"    after = first_elements({state_list(path, optimizers)})",
        "    lines = []",
        "    named = model.named_parameters()",
        "    for (name, p), grad, old, was, now in zip("
        "named, grads, before, prior, after, strict=True):",
        "        if grad is not None:",
        "            first = [t.reshape(-1)[0].item() for t in (old, dense(grad), p.detach())]",
        "            element = Element(name, step, lr, *first, was, now)",
        "            lines.append(explain_line(explain, HYPERPARAMETERS, element))",
        "    return lines",
        "",
    ]
