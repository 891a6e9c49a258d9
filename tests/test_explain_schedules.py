"""``--explain`` with a schedule: the formula's numbers are the ones the update used.

A schedule that drives momentum (OneCycleLR, CyclicLR with cycle_momentum) sets each step's
momentum or β1 in the param group; the formula must show that value, not the run's constant,
so that every line's arithmetic adds up to the number it ends on. The lr's line counts the
scheduler's steps: one an update, or one an epoch with ``--schedule-per epoch``.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcli.optimizers.formula import num
from gradcli.schedules.schedule import lr_line
from tests.helpers import jsonl

PATHS = ("optim", "manual")
# every optimizer with momentum or betas (and the variants whose formula reads them again)
WITH_MOMENTUM = (
    "SGD(momentum=0.9)",
    "SGD(momentum=0.9, nesterov=True)",
    "RMSprop(momentum=0.9)",
    "RMSprop(momentum=0.9, centered=True)",
    "adam",
    "Adam(amsgrad=True)",
    "adamw",
    "adamax",
    "nadam",
    "radam",
    "sparseadam",
    "muon",
)
CYCLING = (
    "OneCycleLR(max_lr=0.1, total_steps=10)",
    "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=2)",
)

_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?")
_PLAIN = re.compile(r"^\(?-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\)?$")


def _python(expression: str) -> str:
    """A line's arithmetic as Python: × − ² ^ √ |x| ½ written out."""
    text = expression.replace("×", "*").replace("−", "-").replace("²", "**2")
    text = text.replace("^", "**").replace("½", "0.5")
    text = re.sub(r"\|([^|]*)\|", r"abs(\1)", text)
    text = re.sub(r"√(\d+(?:\.\d+)?(?:e[+-]?\d+)?)", r"sqrt(\1)", text)
    return text.replace("√(", "sqrt(")


def _half_unit(number: str) -> float:
    """How far the value shown as ``number`` may be from the one computed: ``num`` shows six
    decimals or more (half a unit of the last), ``hyper`` six significant digits; an
    integer (t, an exponent) is exact."""
    if "." not in number and "e" not in number:
        return 0.0
    mantissa = number.split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    if decimals >= 6 and "e" not in number:
        return 0.5 * 10.0**-decimals
    return 1e-5 * abs(float(number))


def _evaluate(python: str, numbers: list[str], at: int | None = None, by: float = 0.0) -> float:
    pieces = iter(numbers)
    index = -1

    def value(match: re.Match[str]) -> str:
        nonlocal index
        index += 1
        shown = next(pieces)
        return repr(float(shown) + (by if index == at else 0.0))

    return eval(_NUMBER.sub(value, python), {"sqrt": math.sqrt, "abs": abs, "max": max})


def adds_up(part: str) -> bool | None:
    """Whether a part ``... = expression = result`` holds within the rounding of the digits
    shown (each number's error carried through the expression); None where the part has no
    such arithmetic (a result read back, a first step, a comparison)."""
    pieces = part.split(" = ")
    if len(pieces) < 3 or not _PLAIN.match(pieces[-1]):
        return None
    python = _python(pieces[-2])
    numbers = _NUMBER.findall(python)
    try:
        value = _evaluate(python, numbers)
    except (NameError, SyntaxError, TypeError, ValueError, ZeroDivisionError):
        return None
    result = pieces[-1].strip("()")
    spread = _half_unit(result) + sum(
        abs(_evaluate(python, numbers, i, _half_unit(n)) - value) for i, n in enumerate(numbers)
    )
    return abs(value - float(result)) <= 2 * spread + 1e-12


@pytest.mark.parametrize("schedule", CYCLING)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("optimizer", WITH_MOMENTUM)
def test_the_formula_adds_up_with_the_scheduled_momentum(invoke, optimizer, path, schedule):
    """Every step's formula, for each parameter, adds up to the numbers it shows (its
    momentum or β1 the one the schedule set, which the lr's line names), and ends on the
    parameter's first element as the record shows it."""
    model = "embedding" if optimizer == "sparseadam" else "linear"
    args = [path, "-m", model, "-o", optimizer, "--explain", "--schedule", schedule]
    ran = invoke(*args, "--steps", "4", "-f", "jsonl", "-q")
    assert ran.exit_code == 0, ran.stderr
    key = "β1" if "adam" in optimizer.lower() or optimizer == "muon" else "momentum"
    for record in jsonl(ran.stdout)[1:]:
        lr_said, *lines = record["explain"]
        assert f", {key} = " in lr_said
        assert len(lines) == len(record["params"])
        for line, (name, param) in zip(lines, record["params"].items(), strict=True):
            assert line.startswith(f"{name}[0]: ")
            parts = line.removeprefix(f"{name}[0]: ").split("; ")
            verdicts = {p.split(" = ")[0]: adds_up(p) for p in parts}
            assert False not in verdicts.values(), (record["step"], line)
            if record["step"] > 1:  # (SGD's first buffer is g itself: nothing to add)
                assert verdicts.get("m", verdicts.get("b")), line
            value = param["value"]
            first = value[0] if isinstance(value, list) else None
            if first is not None:  # θ_new: the element the record shows, to the digits shown
                shown = parts[-1].split(" = ")[-1]
                assert num(first).strip("()") == shown or float(shown) == pytest.approx(
                    first, abs=_half_unit(shown)
                )


def test_the_formula_does_not_add_up_with_the_run_s_constant():
    """The check above fails the line the old code wrote: β1 = 0.9 shown, 0.95 used."""
    assert adds_up("m = β1·m + (1 − β1)·g = 0.95 × 0.000000 + 0.05 × 0.013199 = 0.00065994")
    assert not adds_up("m = β1·m + (1 − β1)·g = 0.9 × 0.000000 + 0.1 × 0.013199 = 0.00065994")
    assert adds_up(
        "u = max(β2·u, |g| + ε) = max(0.999 × 4.318223, |(-4.239723)| + 1e-08) = 4.313905"
    )
    assert adds_up("s·O = (-0.417969) (read back: O = NS(u) in 5 steps)") is None


@settings(max_examples=50, deadline=None)
@given(stepped=st.integers(0, 10_000), per=st.sampled_from(["step", "epoch"]))
def test_the_lr_s_line_counts_what_the_scheduler_counts(stepped, per):
    """For any count: ``after N steps`` or ``after N epochs``, singular for one."""
    line = lr_line("StepLR(step_size=2)", stepped, 0.5, per)
    unit = per if stepped == 1 else per + "s"
    assert line == f"lr: StepLR(step_size=2) after {stepped} {unit}: lr = 0.5"
    driven = lr_line("OneCycleLR(total_steps=9)", stepped, 0.5, per, {"betas": (0.85, 0.999)})
    assert driven.endswith(f"{unit}: lr = 0.5, β1 = 0.85")


@pytest.mark.slow
@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch_size=st.sampled_from([256, 512, 700]), steps=st.integers(2, 12))
def test_per_epoch_the_lr_s_line_counts_epochs(invoke, batch_size, steps):
    """With --schedule-per epoch, each step's lr's line says how many epochs ended before it
    (the scheduler's steps), the lr those epochs left, and the closed form there."""
    args = ["optim", "--data", "digits", "-m", "mlp", "--batch-size", str(batch_size)]
    schedule = ["--schedule", "StepLR(step_size=1, gamma=0.5)", "--schedule-per", "epoch"]
    args += ["-o", "SGD(lr=0.1)", *schedule, "--steps", str(steps), "--explain"]
    ran = invoke(*args, "-f", "jsonl", "-q")
    assert ran.exit_code == 0, ran.stderr
    ended = 0
    for record in jsonl(ran.stdout)[1:]:
        if "epoch_end" in record:
            ended += 1
            continue
        unit = "epoch" if ended == 1 else "epochs"
        lr = 0.1 * 0.5**ended
        said = record["explain"][0]
        assert said.startswith(f"lr: StepLR(step_size=1, gamma=0.5) after {ended} {unit}: ")
        assert record["lr"] == pytest.approx(lr) and "(the same bits)" in said
