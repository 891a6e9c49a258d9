"""What the catalog knows about an optimizer, and the values its hyperparameters may take.

No torch here: ``gradcli --help``, config files and the spec read these descriptions without
paying for ``import torch``. Each optimizer module (``gradcli/optimizers/adam.py``, ...) fills
one ``Optimizer`` with torch's class name, torch's keyword names and defaults, the range each
value may take, one line of help per keyword, the state keys, the hand-written rule and its
``--explain`` formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Value = float | int | bool | str | None | tuple[Any, ...]


class _Required:
    """The default of a keyword torch's constructor has no default for (StepLR's step_size)."""

    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()


def plain(value: object) -> str:
    """A setting as a person reads it: ``0.9``, ``(0.9, 0.999)``, ``True``, ``None``."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(plain(v) for v in value) + ")"
    return str(value)


class Refused(ValueError):
    """A value outside what a hyperparameter allows; the message says what is allowed."""


@dataclass(frozen=True)
class Real:
    """A finite number in [low, high] (either end open, high possibly unbounded)."""

    low: float = 0.0
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    metavar: str = "FLOAT"

    def describe(self) -> str:
        if self.high is None:
            return f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"a number in {left}{self.low:g}, {self.high:g}{right}"

    def check(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Refused(self.describe())
        x = float(value)
        above = x > self.low if self.low_open else x >= self.low
        below = self.high is None or (x < self.high if self.high_open else x <= self.high)
        if not (math.isfinite(x) and above and below):
            raise Refused(self.describe())
        return x


@dataclass(frozen=True)
class Integer:
    """A whole number in [low, high] (by default below 2**63, the most torch holds)."""

    low: int = 0
    metavar: str = "INT"
    high: int = 2**63 - 1

    def describe(self) -> str:
        if self.high == 2**63 - 1:
            return f"an integer >= {self.low}"
        return f"an integer in [{self.low}, {self.high}]"

    def check(self, value: object) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise Refused(self.describe())
        if not self.low <= value <= self.high:
            raise Refused(self.describe())
        return value


@dataclass(frozen=True)
class Flag:
    """True or False."""

    metavar: str = ""

    def describe(self) -> str:
        return "True or False"

    def check(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise Refused(self.describe())
        return value


@dataclass(frozen=True)
class Choice:
    """One of a few names (None among them where torch takes None)."""

    names: tuple[str | None, ...]
    metavar: str = "NAME"

    def describe(self) -> str:
        return "one of " + ", ".join(repr(n) if n is not None else "None" for n in self.names)

    def check(self, value: object) -> str | None:
        if value not in self.names or isinstance(value, bool):
            raise Refused(self.describe())
        return value  # type: ignore[return-value]


@dataclass(frozen=True)
class Maybe:
    """None, or what ``inner`` allows."""

    inner: Real | Integer
    metavar: str = "VALUE"

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"

    def check(self, value: object) -> object:
        if value is None:
            return None
        try:
            return self.inner.check(value)
        except Refused:
            raise Refused(self.describe()) from None


@dataclass(frozen=True)
class Several:
    """A tuple with one value per part (``betas=(0.9, 0.999)``); a list is read as a tuple.
    ``relation`` checks the parts together and returns what is wrong, if anything."""

    parts: tuple[Real | Integer | Maybe, ...]
    relation: Callable[[tuple[Any, ...]], str | None] | None = None
    metavar: str = "A,B"

    def describe(self) -> str:
        kinds = [p.describe() for p in self.parts]
        if len(set(kinds)) == 1:
            return f"a tuple of {len(kinds)} values, each {kinds[0]}"
        return "a tuple (" + "; ".join(kinds) + ")"

    def check(self, value: object) -> tuple[Any, ...]:
        if not isinstance(value, tuple | list) or len(value) != len(self.parts):
            raise Refused(self.describe())
        try:
            checked = tuple(p.check(v) for p, v in zip(self.parts, value, strict=True))
        except Refused:
            raise Refused(self.describe()) from None
        wrong = self.relation(checked) if self.relation else None
        if wrong:
            raise Refused(wrong)
        return checked


Allowed = Real | Integer | Flag | Choice | Maybe | Several


@dataclass(frozen=True)
class Hyperparameter:
    """One keyword of torch's constructor: its default, what it may be, what it means.
    ``shorthands`` name command-line options for the parts of a tuple (``--beta1`` is
    ``betas[0]``). ``tested`` is where the property tests draw an unbounded value from (or
    narrow a bounded one), so that their runs stay finite and still do something; for a
    tuple it holds for every part (see ``tested_part``), or is one range per part. A torch
    default outside it (LBFGS's 20 iterations a step) is never tested: the tests always draw
    a value. ``tested_values``: the tests draw from these instead, where the parts of a tuple
    only work together."""

    name: str
    default: Value
    allowed: Allowed
    help: str
    shorthands: tuple[str, ...] = ()
    tested: tuple[float, float] | tuple[tuple[float, float], ...] | None = None
    tested_values: tuple[Value, ...] = ()

    def tested_part(self, index: int) -> tuple[float, float] | None:
        """The test range of part ``index`` of a tuple (``betas[1]``)."""
        if self.tested is None or not isinstance(self.tested[0], tuple):
            return self.tested  # type: ignore[return-value]
        return self.tested[index]  # type: ignore[return-value]

    def check(self, value: object) -> Value:
        return self.allowed.check(value)  # type: ignore[return-value]


@dataclass(frozen=True)
class Optimizer:
    """Everything gradcli knows about one optimizer, in one place.

    ``rule`` is the hand-written update: ``rule(params, grads, states, *, lr, **hyper)``
    changes ``params`` in place, keeps its state in ``states`` under torch's key names, and
    repeats torch's single-tensor implementation operation by operation (its docstring is
    the math). ``explain`` turns one element's numbers into the lines of ``--explain``.
    ``lrs`` are learning rates that make each built-in problem visibly converge; any other
    problem starts from torch's default ``lr``. ``check`` returns what is wrong with a
    combination of values torch refuses (``nesterov`` without momentum), if anything.
    ``takes`` says which parameters (by shape) the optimizer can train, where torch limits
    them (Muon: 2-D only); ``rest`` names the catalog optimizer that trains the others,
    at torch's defaults and the same lr, on both paths; its ``explain`` looks that one's
    formula up here, and ``explain_with`` is the same formula with the other's given
    (``explain_with(rest, rest_formula, rest_hyperparameters, e, h)``), as a script
    without gradcli's catalog calls it.

    ``foreach_rule``, where torch has a foreach implementation, is the same update on whole
    lists: it takes what ``rule`` takes and repeats torch's ``_multi_tensor_<name>``
    operation by operation (``gradcli manual --impl foreach``; its docstring says what
    differs from ``rule``'s math). ``foreach_by_default`` says whether torch.optim picks
    foreach by itself where the device has foreach kernels (CUDA); Adafactor does not.

    ``closure``: the optimizer re-evaluates the loss itself (LBFGS): both paths call
    ``step(closure)``, and the rule takes ``closure=`` too. ``gradients`` says which
    gradients torch's implementation takes: ``"dense"`` (most), ``"both"`` (SGD, Adagrad,
    LBFGS also take the sparse ones of ``nn.Embedding(sparse=True)``) or ``"sparse"``
    (SparseAdam); ``sparse_check`` returns what torch refuses with sparse gradients (weight
    decay), if anything. ``problem`` is the built-in problem it needs (SparseAdam:
    ``embedding``), where the usual ones (``linear``, ...) will not do.

    ``--show-code`` and ``--print-script`` print ``rule`` (and ``takes``) from its own source
    (``gradcli.script.source``): nothing here is written twice.

    ``schedule_check`` returns what is wrong, if anything, with the hyperparameters that a
    schedule driving momentum (OneCycleLR, CyclicLR) gives the first step: torch's RMSprop
    makes its momentum buffer only when momentum > 0 at the first step.
    """

    name: str
    torch_class: str
    summary: str
    lr: float
    hyperparameters: tuple[Hyperparameter, ...]
    state: Mapping[str, str]
    rule: Callable[..., None]
    explain: Callable[..., list[str]]
    lrs: Mapping[str, float] = field(default_factory=dict)
    check: Callable[[dict[str, Any]], str | None] | None = None
    takes: Callable[[tuple[int, ...]], bool] | None = None
    rest: str | None = None
    explain_with: Callable[..., list[str]] | None = None  # (with rest: see above)
    compared_by_default: bool = False  # one of the classics `gradcli compare` runs with no -o
    foreach_rule: Callable[..., None] | None = None
    foreach_by_default: bool = True
    closure: bool = False
    gradients: str = "dense"
    sparse_check: Callable[[dict[str, Any]], str | None] | None = None
    problem: str | None = None
    schedule_check: Callable[[dict[str, Any]], str | None] | None = None

    @property
    def defaults(self) -> dict[str, Value]:
        return {h.name: h.default for h in self.hyperparameters}

    @property
    def keywords(self) -> tuple[Hyperparameter, ...]:
        """Every keyword of its constructor on the command line: lr, then the others."""
        return (Hyperparameter("lr", self.lr, Real(), "Learning rate."), *self.hyperparameters)

    @property
    def not_taken(self) -> Mapping[str, str]:
        return NOT_TAKEN

    @property
    def constructor_example(self) -> str:
        return f"{self.torch_class}(lr={plain(self.lr)})"

    def hyperparameter(self, name: str) -> Hyperparameter | None:
        return next((h for h in self.hyperparameters if h.name == name), None)

    def refuses(self, sparse: bool, hyperparameters: dict[str, Any]) -> str | None:
        """What keeps torch's implementation from training parameters whose gradients are
        sparse (or dense) with these settings, in words; None when it takes them."""
        if sparse and self.gradients == "dense":
            return f"torch.optim.{self.torch_class} does not take sparse gradients"
        if not sparse and self.gradients == "sparse":
            return f"torch.optim.{self.torch_class} takes sparse gradients only"
        if sparse and self.sparse_check is not None:
            return self.sparse_check(hyperparameters)
        return None

    @property
    def math(self) -> str:
        """The rule's docstring: the update written as math."""
        import inspect

        return inspect.cleandoc(self.rule.__doc__ or "")


# torch.optim keywords gradcli does not take, and why
NOT_TAKEN = {
    **{
        name: f"{name} chooses torch's implementation, not the update; "
        "use --impl forloop|foreach|fused"
        for name in ("foreach", "fused", "capturable", "differentiable")
    },
    "params": "the parameters are the problem's (-m); leave them out",
}


# Keywords that many optimizers share, with the same meaning and range everywhere.
def weight_decay(default: float = 0.0) -> Hyperparameter:
    return Hyperparameter(
        "weight_decay", default, Real(), "Weight decay λ >= 0.", tested=(0.0, 0.1)
    )


def without_weight_decay(h: dict[str, Any]) -> str | None:
    """``sparse_check`` of SGD and Adagrad: torch refuses weight decay with sparse gradients."""
    if h.get("weight_decay", 0) != 0:
        return f"torch refuses weight_decay with sparse gradients (got {h['weight_decay']:g})"
    return None


def eps(default: float) -> Hyperparameter:
    return Hyperparameter(
        "eps", default, Real(), "Term ε >= 0 added to the denominator.", tested=(1e-10, 1e-3)
    )


MAXIMIZE = Hyperparameter("maximize", False, Flag(), "Ascend the loss instead.")
BETAS = Hyperparameter(
    "betas",
    (0.9, 0.999),
    Several((Real(0, 1, high_open=True), Real(0, 1, high_open=True)), metavar="B1,B2"),
    "Decays (β1, β2) of the first and second moments, each in [0, 1).",
    shorthands=("beta1", "beta2"),
    tested=((0.0, 0.99), (0.5, 0.9999)),
)
