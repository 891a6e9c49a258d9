"""A user's model code (its module, its factory, forward()) is not gradcli: its sys.exit and
exceptions are one line and exit 2, its prints go to stderr, and parameters gradcli cannot
train are refused before the run, by name."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from lanes import fast_cases

from tests.helpers import jsonl

MODEL = """\
import sys
import torch
from torch import nn

{at_import}

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))
        self.calls = 0

    def forward(self):
        self.calls += 1  # gradcli tries forward() once on a copy, so this counts real steps
        if self.calls > 2:
            {in_forward}
        return (self.w ** 2).sum()

def build():
    {in_factory}
    return Model()
"""

ENDINGS = {
    "exit 0": ("sys.exit(0)", "called sys.exit(0)"),
    "exit 3": ("sys.exit(3)", "called sys.exit(3)"),
    "raise": ("raise ValueError('boom')", "raised ValueError: boom"),
}
WHERE = {
    "import": ("at_import", "--model {file}:build: importing {file} "),
    "factory": ("in_factory", "--model {file}:build: the factory "),
    "forward": ("in_forward", "--model {file}:build: step 3: forward() or backward() "),
}


def _model_file(tmp_path, monkeypatch, **code: str) -> str:
    fill = {"at_import": "", "in_factory": "pass", "in_forward": "pass", **code}
    (tmp_path / "model.py").write_text(MODEL.format(**fill))
    monkeypatch.chdir(tmp_path)
    return "model.py"


@pytest.mark.parametrize("command", fast_cases(["optim", "manual", "compare"]))
@pytest.mark.parametrize("where", fast_cases(WHERE))
@pytest.mark.parametrize("ending", ENDINGS)
def test_user_code_that_exits_or_raises_is_one_line_and_exit_2(
    invoke, tmp_path, monkeypatch, command, where, ending
):
    code, said = ENDINGS[ending]
    key, prefix = WHERE[where]
    file = _model_file(tmp_path, monkeypatch, **{key: code})
    result = invoke(command, "-m", f"{file}:build", "--steps", "5", "-f", "jsonl", "-o", "sgd")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    expected = prefix.format(file=file) + said
    if command == "compare":  # the runs step in lockstep: the step is not named
        expected = expected.replace("step 3: ", "")
    assert lines[0] == f"gradcli: error: {expected}"
    records = jsonl(result.stdout)  # what was produced before stays valid data
    if where == "forward" and command != "compare":
        assert [r["step"] for r in records] == [0, 1, 2]


def test_a_run_that_user_code_ends_keeps_its_checkpoint(invoke, tmp_path, monkeypatch):
    file = _model_file(tmp_path, monkeypatch, in_forward="sys.exit(0)")
    result = invoke("optim", "-m", f"{file}:build", "--steps", "5", "--save", "ck.pt", "-q")
    assert result.exit_code == 2
    saved = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert saved["step"] == 2  # the steps done before forward() exited


RUNS = ("--steps", "4", "-o", "sgd")


@pytest.mark.parametrize(
    ("command", "more"),
    fast_cases(
        [("optim", RUNS), ("manual", RUNS), ("compare", RUNS), ("params", ()), ("graph", ())],
        2,
        several=True,
    ),
    ids=lambda v: v if isinstance(v, str) else "",
)
@pytest.mark.parametrize("fmt", fast_cases(["jsonl", "csv"]))
def test_prints_in_user_code_go_to_stderr(invoke, tmp_path, monkeypatch, command, more, fmt):
    file = _model_file(
        tmp_path,
        monkeypatch,
        at_import="print('import')",
        in_factory="print('factory')",
        in_forward="print('forward')",
    )
    printing = invoke(command, "-m", f"{file}:build", *more, "-f", fmt)
    assert printing.exit_code == 0, printing.stderr
    assert "import" in printing.stderr and "factory" in printing.stderr
    _model_file(tmp_path, monkeypatch)
    silent = invoke(command, "-m", f"{file}:build", *more, "-f", fmt)
    assert printing.stdout == silent.stdout  # not one stray line in the data


BAD_MODELS = {
    "no parameters": (
        "self.register_buffer('b', torch.ones(2, requires_grad=True))",
        "(self.b * 2).sum()",
        "the loss requires grad, but the model has no parameter that does",
    ),
    "complex loss": (
        "self.w = nn.Parameter(torch.ones(2))",
        "(self.w * (1 + 1j)).sum()",
        "forward() returned a complex64 loss, not a real floating-point one",
    ),
    "cannot be copied": (
        "self.w = nn.Parameter(torch.ones(2)); import threading; self.lock = threading.Lock()",
        "self.w.sum()",
        "copying the model (copy.deepcopy, to try forward() on) raised TypeError: ",
    ),
    "meta parameter": (
        "self.w = nn.Parameter(torch.ones(2, device='meta'))",
        "self.w.sum()",
        "parameter 'w' is on the meta device (it holds no values)",
    ),
    "empty parameter": (
        "self.w = nn.Parameter(torch.ones(2)); self.e = nn.Parameter(torch.ones(0))",
        "self.w.sum() + self.e.sum()",
        "parameter 'e' has no elements (shape [0])",
    ),
    "complex parameter": (
        "self.w = nn.Parameter(torch.ones(2, dtype=torch.complex64))",
        "(self.w.abs() ** 2).sum()",
        "parameter 'w' is complex64; gradcli trains real floating-point ones",
    ),
}

BAD_MODEL = """\
import torch
from torch import nn

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        {init}

    def forward(self):
        return {loss}

def build():
    return Model()
"""


@pytest.mark.parametrize("command", fast_cases(["optim", "manual", "compare"]))
@pytest.mark.parametrize("case", BAD_MODELS)
def test_models_gradcli_cannot_train_are_refused_before_the_run(
    invoke, tmp_path, monkeypatch, command, case
):
    init, loss, said = BAD_MODELS[case]
    (tmp_path / "bad.py").write_text(BAD_MODEL.format(init=init, loss=loss))
    monkeypatch.chdir(tmp_path)
    result = invoke(command, "-m", "bad.py:build", "--steps", "2", "-f", "csv", "-o", "sgd")
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"gradcli: error: --model bad.py:build: {said}")


@pytest.mark.parametrize("value", ["'abc'", "-1.0", "10**400", "float('nan')", "[1]", "True"])
def test_a_bad_default_lr_of_the_users_problem_is_one_line(invoke, tmp_path, value):
    (tmp_path / "dl.py").write_text(
        "import torch\n"
        "class P(torch.nn.Module):\n"
        f"    default_lrs = {{'sgd': {value}}}\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.w = torch.nn.Parameter(torch.ones(2))\n"
        "    def forward(self):\n"
        "        return (self.w ** 2).sum()\n"
        "def build():\n"
        "    return P()\n"
    )
    result = invoke("optim", "-m", f"{tmp_path}/dl.py:build", "--steps", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(
        f"gradcli: error: --model {tmp_path}/dl.py:build: default_lrs['sgd'] must be a finite "
        "number >= 0, got "
    )
    assert result.stderr.endswith("; fix it, or give --lr\n")
    given = invoke("optim", "-m", f"{tmp_path}/dl.py:build", "--steps", "1", "--lr", "0.1")
    assert given.exit_code == 0, given.stderr


def test_after_user_code_a_thread_s_prints_go_to_stderr_and_the_main_thread_s_to_stdout(
    monkeypatch,
):
    """A thread the user's factory started may print at any moment later, also while gradcli
    writes its records: its words go to stderr, never into stdout's JSON."""
    import io
    import threading

    from gradcli.usercode import user_code

    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with user_code("the factory"):
        print("inside")  # user code's own prints: stderr, as before
    thread = threading.Thread(target=lambda: print("from a thread"))
    thread.start()
    thread.join()
    print('{"step": 0}')  # gradcli's data, from the main thread
    assert out.getvalue() == '{"step": 0}\n'
    assert err.getvalue() == "inside\nfrom a thread\n"


def test_a_thread_the_factory_starts_prints_to_stderr_not_into_the_data(invoke, tmp_path):
    """The thread prints while the run is going (step 3), after the factory returned."""
    (tmp_path / "chatty.py").write_text(
        "import threading, torch\n"
        "asked, done = threading.Event(), threading.Event()\n"
        "def chatter():\n"
        "    asked.wait(10)\n"
        "    print('late words from a thread')\n"
        "    done.set()\n"
        "class P(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.w = torch.nn.Parameter(torch.ones(2))\n"
        "        self.calls = 0\n"
        "    def forward(self):\n"
        "        if torch.is_grad_enabled():\n"
        "            self.calls += 1\n"
        "            if self.calls == 3:\n"
        "                asked.set()\n"
        "                done.wait(10)\n"
        "        return (self.w ** 2).sum()\n"
        "def build():\n"
        "    threading.Thread(target=chatter, daemon=True).start()\n"
        "    return P()\n"
    )
    result = invoke("optim", "-m", f"{tmp_path}/chatty.py:build", "--steps", "5", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["step"] for line in result.stdout.splitlines()] == list(range(6))
    assert "late words from a thread" in result.stderr
