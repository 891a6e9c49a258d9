"""torch's constructor syntax on the command line, for optimizers and schedules alike.

``-o 'Adam(lr=0.01, betas=(0.9, 0.99))'`` and ``--schedule 'SequentialLR(schedulers=
[LinearLR(total_iters=5), CosineAnnealingLR(T_max=95)], milestones=[5])'`` read as a user's
Python does. The text is read with Python's ``ast`` (literal values only, never evaluated;
constructors nest only where a keyword takes a list of them) and every keyword is checked
against the catalog entry: a bad name, keyword or value is one ``GradcliError`` line that
names it and says what is allowed. No torch here.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from gradcli.errors import GradcliError
from gradcli.optimizers.catalog import REQUIRED, Hyperparameter, Real, Refused

LITERALS = "a literal value (a number, string, True/False, None, or a list or tuple of them)"


class Entry(Protocol):
    """A catalog entry a constructor names (an ``Optimizer``, a ``Scheduler``)."""

    @property
    def torch_class(self) -> str: ...

    @property
    def keywords(self) -> tuple[Hyperparameter, ...]:
        """Every keyword its constructor takes here, in torch's order."""
        ...

    @property
    def not_taken(self) -> Mapping[str, str]:
        """torch keywords gradcli refuses, and why (``foreach``: ``--impl`` says that)."""
        ...

    @property
    def constructor_example(self) -> str: ...


MAX_TEXT = 2000  # characters in one constructor: torch's longest are far shorter
E = TypeVar("E", bound=Entry)
T = TypeVar("T")


def parse_constructor(
    text: str,
    where: str,
    *,
    find: Callable[[str, str], E],
    build: Callable[[E, dict[str, Any], str], T],
    shape: str,
) -> T:
    """``text`` as ``build(entry, settings, where)``: the entry ``find(name, where)`` names,
    and the keywords given, each checked against it (a keyword whose values are
    constructors, as SequentialLR's ``schedulers``, holds what ``build`` made of each).
    ``where`` starts every error's line (``--optimizer Adam(...)``); ``shape`` says what the
    text should look like (``a scheduler like 'StepLR(step_size=30)'``). A bare name is the
    constructor with no keywords."""
    if len(text) > MAX_TEXT:  # (bounded before parsing: ast's work grows with the text)
        raise GradcliError(
            f"{where}: {len(text)} characters; a constructor of at most {MAX_TEXT} is {shape}"
        )
    label = f"{where} {text}"
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # (ValueError: a NUL)
        raise GradcliError(f"{label}: not {shape}") from None
    if isinstance(tree, ast.Name):  # an unknown bare name: "--optimizer: unknown ... 'lion'"
        find(tree.id, where)
    return _call(tree, label, find, build, shape, nested=False)


def _call(
    tree: ast.expr,
    label: str,
    find: Callable[[str, str], E],
    build: Callable[[E, dict[str, Any], str], T],
    shape: str,
    *,
    nested: bool,
) -> T:
    if isinstance(tree, ast.Name):
        tree = ast.Call(func=tree, args=[], keywords=[])
    func = tree.func if isinstance(tree, ast.Call) else tree
    module = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
    if isinstance(func, ast.Attribute) and module.endswith(("optim", "lr_scheduler")):
        # torch.optim.Adam(...), lr_scheduler.StepLR(...): as Python code writes it
        raise GradcliError(
            f"{label}: drop '{module}.': gradcli takes the class by its name alone "
            f"('{func.attr}(...)')"
        )
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name):
        raise GradcliError(f"{label}: not {shape}")
    entry = find(tree.func.id, label)
    where = f"{label}: {entry.torch_class}" if nested else label
    # torch's first argument (the parameters, the optimizer) may be named, as in a script:
    # ``StepLR(optimizer, step_size=30)``; gradcli passes its own.
    if len(tree.args) > 1 or (tree.args and not isinstance(tree.args[0], ast.Name)):
        raise GradcliError(f"{where}: give the keywords by name, e.g. {entry.constructor_example}")
    settings: dict[str, Any] = {}
    for keyword in tree.keywords:
        name = keyword.arg
        if name is None:
            raise GradcliError(f"{where}: give the keywords by name, not **mapping")
        if name in settings:
            raise GradcliError(f"{where}: {name} is given twice")
        h = next((h for h in entry.keywords if h.name == name), None)
        if h is None:
            raise unknown_keyword(entry, name, where)
        value: Any
        if getattr(h.allowed, "constructors", False):  # a list of constructors
            node = keyword.value
            if not isinstance(node, ast.List | ast.Tuple) or not node.elts:
                raise GradcliError(
                    f"{where}: {name} must be {h.allowed.describe()}, got {ast.unparse(node)}"
                )
            value = [_call(e, label, find, build, shape, nested=True) for e in node.elts]
        else:
            try:
                value = ast.literal_eval(keyword.value)
            except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
                raise GradcliError(
                    f"{where}: {name} must be {LITERALS}, got {ast.unparse(keyword.value)}"
                ) from None
        settings[name] = checked(f"{where}: {name}", h.allowed, value)
    missing = [h for h in entry.keywords if h.default is REQUIRED and h.name not in settings]
    if missing:
        needs = ", ".join(f"{h.name} ({h.allowed.describe()})" for h in missing)
        raise GradcliError(f"{where}: {entry.torch_class} needs {needs}")
    return build(entry, settings, where)


def unknown_keyword(entry: Entry, keyword: str, where: str) -> GradcliError:
    """The error for a keyword ``entry`` does not take: why, or what is close and allowed."""
    if keyword in entry.not_taken:
        return GradcliError(f"{where}: {entry.not_taken[keyword]}")
    takes = [h.name for h in entry.keywords]
    close = difflib.get_close_matches(keyword, takes, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return GradcliError(
        f"{where}: {entry.torch_class} has no keyword {keyword!r}{hint}; "
        f"it takes: {', '.join(takes) or 'nothing'}"
    )


def checked(label: str, allowed: Any, value: object) -> Any:
    """``allowed.check(value)``, or the error ``<label> must be <what is allowed>, got ...``
    (a whole number given for a real one shown as the float it was read as)."""
    try:
        return allowed.check(value)
    except Refused as refused:
        raise GradcliError(f"{label} must be {refused}, got {_shown(allowed, value)}") from None
    except (OverflowError, ValueError):  # an integer of thousands of digits
        raise GradcliError(
            f"{label} must be {allowed.describe()}, got a number too large to use"
        ) from None


def _shown(allowed: Any, value: object) -> str:
    if isinstance(allowed, Real) and isinstance(value, int) and not isinstance(value, bool):
        return repr(float(value))
    if isinstance(value, Sequence) and any(hasattr(v, "text") for v in value):
        return "[" + ", ".join(getattr(v, "text", repr(v)) for v in value) + "]"
    return repr(value)
