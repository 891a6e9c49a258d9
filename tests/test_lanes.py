"""The fast lane (``-m "not slow"``, tests/lanes.py): the marker is registered, and
``fast_cases`` keeps the cases it is told to in the fast lane."""

from __future__ import annotations

import pytest
from lanes import fast_cases


def test_the_slow_marker_is_registered(pytestconfig):
    registered = [line.partition(":")[0].strip() for line in pytestconfig.getini("markers")]
    assert "slow" in registered and "cuda" in registered


def slow(case) -> bool:
    return any(mark.name == "slow" for mark in case.marks)


def test_fast_cases_keeps_the_first_case_or_the_named_ones_fast():
    assert [slow(c) for c in fast_cases(["sgd", "adam", "lbfgs"])] == [False, True, True]
    assert [slow(c) for c in fast_cases(["sgd", "adam", "lbfgs"], 2)] == [False, False, True]
    named = fast_cases(["sgd", "adam", "lbfgs"], {"adam"})
    assert [(c.values, slow(c)) for c in named] == [
        (("sgd",), True),
        (("adam",), False),
        (("lbfgs",), True),
    ]


def test_fast_cases_of_several_arguments_and_of_pytest_params():
    pairs = fast_cases([("linear", "sgd"), ("mlp", "adam")], {("mlp", "adam")}, several=True)
    assert [(c.values, slow(c)) for c in pairs] == [
        (("linear", "sgd"), True),
        (("mlp", "adam"), False),
    ]
    given = [pytest.param("a", id="A", marks=pytest.mark.cuda), pytest.param("b", id="B")]
    kept = fast_cases(given)
    assert [(c.id, [m.name for m in c.marks]) for c in kept] == [("A", ["cuda"]), ("B", ["slow"])]
