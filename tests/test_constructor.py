"""The one constructor parser (``gradcli/constructor.py``), shared by ``-o`` and
``--schedule``: one place that reads the text, one set of error messages."""

from __future__ import annotations

import ast
import pathlib

import pytest

from gradcli.errors import GradcliError
from gradcli.schedules.schedule_spec import parse_schedule
from gradcli.spec import choose_optimizer, parse_optimizer

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "gradcli"


def _parses_in_eval_mode(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "parse"
        and any(
            k.arg == "mode" and isinstance(k.value, ast.Constant) and k.value.value == "eval"
            for k in node.keywords
        )
    )


def test_the_package_parses_constructor_text_in_one_place():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if _parses_in_eval_mode(node)
    ]
    assert len(found) == 1, found
    assert found[0].startswith("gradcli/constructor.py:")


@pytest.mark.parametrize(
    ("where", "parse"),
    [("--optimizer", parse_optimizer), ("--schedule", parse_schedule)],
)
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{}(x=__import__('os'))",
            "must be a literal value (a number, string, True/False, None, "
            "or a list or tuple of them), got __import__('os')",
        ),
        ("{}(**{{'a': 1}})", "give the keywords by name, not **mapping"),
        ("{}(1)", "give the keywords by name, e.g. "),
        ("{}(a, b)", "give the keywords by name, e.g. "),
        ("{}(", "not a"),
    ],
)
def test_optimizers_and_schedules_share_the_messages(where, parse, text, message):
    name = {"--optimizer": "SGD", "--schedule": "ExponentialLR"}[where]
    keyword = {"--optimizer": "lr", "--schedule": "gamma"}[where]
    text = text.replace("x=", f"{keyword}=").format(name)
    with pytest.raises(GradcliError) as raised:
        parse(text)
    line = str(raised.value)
    assert line.startswith(f"{where} {text}: ")
    assert message in line
    assert "\n" not in line


def test_a_keyword_given_twice_is_refused_both_ways():
    for parse, text in [
        (parse_optimizer, "SGD(lr=0.1, lr=0.2)"),
        (parse_schedule, "ExponentialLR(gamma=0.5, gamma=0.6)"),
    ]:
        with pytest.raises(GradcliError, match="is given twice"):
            parse(text)


def test_torchs_first_argument_may_be_named_as_in_a_script():
    """``Adam(params, lr=0.01)`` and ``StepLR(optimizer, step_size=3)`` read as in Python."""
    assert choose_optimizer("Adam(params, lr=0.01)", {}) == ("adam", 0.01, {})
    assert parse_schedule("StepLR(optimizer, step_size=3)").settings == {"step_size": 3}


def test_values_are_checked_while_parsing_with_one_wording():
    with pytest.raises(
        GradcliError,
        match=r"--optimizer SGD\(lr=-1\): lr must be a finite "
        r"number >= 0, got -1\.0$",
    ):
        parse_optimizer("SGD(lr=-1)")
    with pytest.raises(GradcliError, match=r"gamma must be a finite number >= 0, got -1\.0$"):
        parse_schedule("ExponentialLR(gamma=-1)")
    nested = "SequentialLR(schedulers=[StepLR(step_size=0)], milestones=[])"
    with pytest.raises(GradcliError, match=r": StepLR: step_size must be an integer >= 1, got 0"):
        parse_schedule(nested)


def test_keywords_gradcli_does_not_take_say_why():
    with pytest.raises(GradcliError, match="foreach chooses torch's implementation"):
        parse_optimizer("SGD(foreach=True)")
    with pytest.raises(GradcliError, match="last_epoch is for resuming torch's scheduler"):
        parse_schedule("StepLR(step_size=3, last_epoch=4)")


@pytest.mark.parametrize("text", ["SGD(lr=0.1\x00)", "SGD(lr=" + "(" * 300 + ")" * 300 + ")"])
def test_odd_text_is_one_line_too(text):
    with pytest.raises(GradcliError) as raised:
        parse_optimizer(text)
    assert "\n" not in str(raised.value).replace(text, "")


@pytest.mark.parametrize(
    ("option", "text", "says"),
    [
        ("-o", "Adam(lr=" + "9" * 4000 + ")", "4009 characters; a constructor of at most 2000"),
        ("-o", "Adam(lr=" + "-" * 100_000 + "1)", "characters; a constructor of at most 2000"),
        ("-o", "Adam(lr=" + "9" * 400 + ")", "lr must be a finite number >= 0, got a number too"),
        ("-o", "LBFGS(history_size=" + "9" * 30 + ")", "must be an integer in [1, 1000000]"),
        ("--schedule", "StepLR(step_size=" + "9" * 3000 + ")", "characters; a constructor"),
    ],
)
def test_huge_constructors_are_one_line(invoke, option, text, says):
    """Bounded before parsing; numbers too large for what takes them refused by name."""
    result = invoke("optim", option, text, "--steps", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("gradcli: error: ") and result.stderr.count("\n") == 1
    assert says in result.stderr
