"""The two lanes of the suite: ``python -m pytest`` runs every test; ``python -m pytest -m "not
slow"`` (the fast lane, about a minute on 2 cores) leaves out the tests marked ``slow``: those
that start processes (signals, pipes, ddp, torchrun, the README's examples), the long
Hypothesis properties, and anything over about half a second. Each file and each family
(rules vs torch, manual == optim, errors, formats, pipelines, schedules, checkpoints, scripts,
pictures) keeps some quick tests in the fast lane.

A test is marked where it is written: ``@pytest.mark.slow`` on a test, ``pytestmark`` for a
whole module, or, for a parametrisation with many cases, ``fast_cases`` on its values: a few
representative cases stay in the fast lane and the rest are slow.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import pytest

_ParameterSet = type(pytest.param(None))  # what pytest.param returns (its class is private)


def fast_cases(
    values: Iterable[Any], fast: Collection[Any] | int = 1, *, several: bool = False
) -> list[Any]:
    """``values`` of a parametrisation, every case marked slow but those in ``fast``, or the
    first ``fast`` ones: ``@pytest.mark.parametrize("optimizer", fast_cases(names, {"sgd"}))``.
    ``several``: each value is a tuple of several arguments. A value may be a
    ``pytest.param`` (its id and marks are kept)."""
    cases = []
    for index, value in enumerate(values):
        if isinstance(value, _ParameterSet):
            arguments, marks, id_ = tuple(value.values), list(value.marks), value.id
        else:
            arguments, marks, id_ = (tuple(value) if several else (value,)), [], None
        key = arguments if several else arguments[0]
        quick = index < fast if isinstance(fast, int) else key in fast
        slow = [] if quick else [pytest.mark.slow]
        cases.append(pytest.param(*arguments, marks=[*marks, *slow], id=id_))
    return cases
