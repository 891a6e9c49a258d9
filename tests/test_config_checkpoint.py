"""Config files, a model of your own, and checkpoints that resume bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import gradcli_process, jsonl
from lanes import fast_cases

from gradcli.optimizers import catalog

ROOT = Path(__file__).resolve().parent.parent


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- config files -----------------------------------------------------------------------


@pytest.mark.slow
def test_config_sets_options_and_flags_win(invoke, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('model = "seed"\nlr = 0.01\nsteps = 5\n')
    result = invoke("optim", "--config", str(config), "--steps", "2", "-f", "jsonl")
    records = jsonl(result.stdout)
    assert [r["step"] for r in records] == [0, 1, 2]  # --steps beat the file
    assert records[1]["params"]["w"]["update"][0] == pytest.approx(-0.01 / 3, rel=1e-6)  # lr
    printed = invoke("optim", "--config", str(config), "--momentum", "0.5", "--print-config")
    assert 'model = "seed"\n' in printed.stdout and "steps = 5\n" in printed.stdout
    assert (
        'optimizer = "SGD(lr=0.01, momentum=0.5, dampening=0.0, weight_decay=0.0, '
        'nesterov=False, maximize=False)"\n'
    ) in printed.stdout


def test_print_config_reads_back_to_the_same_run(invoke, tmp_path):
    first = invoke(
        "manual",
        "-m",
        "mlp",
        "-o",
        "adam",
        "--beta2",
        "0.99",
        "--lr",
        "0.02",
        "--steps",
        "7",
        "--every",
        "3",
        "--print-config",
    )
    assert first.exit_code == 0
    config = tmp_path / "round.toml"
    config.write_text(first.stdout)
    assert invoke("manual", "--config", str(config), "--print-config").stdout == first.stdout
    direct = invoke(
        "manual",
        "-m",
        "mlp",
        "-o",
        "adam",
        "--beta2",
        "0.99",
        "--lr",
        "0.02",
        "--steps",
        "7",
        "--every",
        "3",
        "-f",
        "jsonl",
    )
    via_file = invoke("manual", "--config", str(config), "-f", "jsonl")
    assert via_file.stdout == direct.stdout


def test_compare_config_round_trip(invoke, tmp_path):
    printed = invoke(
        "compare", "-o", "sgd,adamw", "--tol", "0.5", "--steps", "4", "--print-config"
    ).stdout
    assert 'optimizer = ["sgd", "adamw"]\n' in printed and "tol = 0.5\n" in printed
    config = tmp_path / "compare.toml"
    config.write_text(printed)
    records = jsonl(invoke("compare", "--config", str(config), "-f", "jsonl").stdout)
    assert {r["optimizer"] for r in records} == {"sgd", "adamw"}
    assert max(r["step"] for r in records) == 4


@pytest.mark.parametrize(
    ("text", "fragments"),
    fast_cases(
        [
            ("stpes = 3\n", ["unknown key 'stpes'", "did you mean 'steps'?"]),
            ("learning_rate = 0.1\n", ["unknown key 'learning_rate'", "did you mean 'lr'?"]),
            ('lr = "fast"\n', ["key 'lr' must be a number, got 'fast'"]),
            ("steps = 2.5\n", ["key 'steps' must be an integer, got 2.5"]),
            ("nesterov = 1\n", ["--nesterov must be True or False, got 1"]),
            ("steps = [\n", ["not valid TOML"]),
            ("tol = 1.0\n", ["key 'tol' does not apply to gradcli optim"]),
            ("steps = -4\n", ["--steps must be an integer in [0, 2**63), got -4"]),
        ],
        3,
        several=True,
    ),
)
def test_bad_config_is_one_line_naming_file_and_key(invoke, tmp_path, text, fragments):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    one_line_error(invoke("optim", "--config", str(config)), *fragments)
    if "unknown key" in fragments[0] or "must be" in fragments[0]:
        assert str(config) in invoke("optim", "--config", str(config)).stderr


def test_missing_config_file(invoke, tmp_path):
    one_line_error(invoke("optim", "--config", str(tmp_path / "none.toml")), "no such file")


def test_a_checkpoint_or_records_given_as_config_are_named(invoke, tmp_path):
    """The files a user has beside a config (a checkpoint, a run's JSON lines) are named for
    what they are, not met with a decoder's words (``'utf-8' codec can't decode``)."""
    ckpt, records = tmp_path / "a.pt", tmp_path / "run.jsonl"
    records.write_text(invoke("optim", "--steps", "1", "--save", str(ckpt), "-q").stdout)
    one_line_error(
        invoke("optim", "--config", str(ckpt)),
        f"--config {ckpt}: not a TOML config file: it is a zip archive (such as a checkpoint",
    )
    one_line_error(
        invoke("optim", "--config", str(records)),
        f"--config {records}: not a TOML config file: it is JSON lines (the records of a run",
    )


@pytest.mark.parametrize("name", ["seed", "linear", "mlp", "rosenbrock"])
def test_shipped_configs_run(invoke, name):
    path = ROOT / "configs" / f"{name}.toml"
    result = invoke("optim", "--config", str(path), "--steps", "3", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert jsonl(result.stdout)[0]["step"] == 0


def test_seed_config_is_the_classic_example(invoke):
    printed = invoke(
        "manual", "--config", str(ROOT / "configs" / "seed.toml"), "--print-config"
    ).stdout
    assert 'model = "seed"\n' in printed and 'optimizer = "SGD(lr=0.001, ' in printed


# --- a model of your own -------------------------------------------------------------------

FACTORY = textwrap.dedent("""
    import torch
    from torch import nn

    class Line(nn.Module):
        default_lrs = {"sgd": 0.25}

        def __init__(self):
            super().__init__()
            self.register_buffer("target", torch.tensor([1.0, -2.0]))
            self.p = nn.Parameter(torch.zeros(2))

        def forward(self):
            return ((self.p - self.target) ** 2).mean()

    def build():
        return Line()

    def broken():
        raise ValueError("no data here")

    def not_a_module():
        return 42

    class Vector(Line):
        def forward(self):
            return (self.p - self.target) ** 2

    class Args(Line):
        def forward(self, x):
            return x

    class Frozen(Line):
        def forward(self):
            return self.target.sum()

    vector, args, frozen = Vector, Args, Frozen
    not_callable = 3
""")


@pytest.fixture
def factory_file(tmp_path, monkeypatch):
    path = tmp_path / "mymodels.py"
    path.write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return path


def test_model_from_a_file_and_from_a_module(invoke, factory_file):
    by_file = invoke("optim", "--model", f"{factory_file}:build", "--steps", "3", "-f", "jsonl")
    by_module = invoke("optim", "--model", "mymodels:build", "--steps", "3", "-f", "jsonl")
    assert by_file.exit_code == by_module.exit_code == 0, by_file.stderr
    assert by_file.stdout == by_module.stdout
    records = jsonl(by_file.stdout)
    assert list(records[0]["params"]) == ["p"]
    assert records[1]["params"]["p"]["update"] == pytest.approx([0.25, -0.5])  # its own lr
    manual = invoke("manual", "--model", f"{factory_file}:build", "--steps", "3", "-f", "jsonl")
    assert manual.stdout == by_file.stdout


def test_shipped_example_model(invoke):
    result = invoke(
        "optim",
        "--model",
        str(ROOT / "configs" / "quadratic.py") + ":build",
        "--steps",
        "20",
        "-f",
        "jsonl",
    )
    assert result.exit_code == 0
    assert jsonl(result.stdout)[-1]["loss"] < 0.01


@pytest.mark.parametrize(
    ("target", "fragment"),
    fast_cases(
        [
            ("{dir}/absent.py:build", "no such file"),
            ("no_such_module_xyz:build", "no module named 'no_such_module_xyz'"),
            ("{file}:missing", "has no attribute 'missing'"),
            ("{file}:not_callable", "not_callable is an int, not a callable"),
            ("{file}:broken", "the factory raised ValueError: no data here"),
            ("{file}:not_a_module", "the factory returned an int, not an nn.Module"),
            ("{file}:vector", "forward() returned a tensor of shape [2], not a scalar loss"),
            ("{file}:args", "forward() must take no arguments"),
            ("{file}:frozen", "the loss does not require grad"),
        ],
        3,
        several=True,
    ),
)
def test_bad_model_factory_is_one_line(invoke, factory_file, target, fragment):
    target = target.format(dir=factory_file.parent, file=factory_file)
    one_line_error(
        invoke("optim", "--model", target, "--steps", "1"), f"--model {target}", fragment
    )


@pytest.mark.slow
@pytest.mark.parametrize("target", ["mymodels:build", "mymodels.py:build"])
def test_your_model_in_the_current_directory(tmp_path, target):
    """`gradcli` (a console script: the current directory is not on sys.path, unlike with
    python -m) finds ./mymodels.py by module name too, and the file finds its neighbours."""
    (tmp_path / "mymodels.py").write_text("from helper import build\n")
    (tmp_path / "helper.py").write_text(FACTORY)
    console_script = [sys.executable, "-P", "-c", "from gradcli.cli import main; main()"]
    out = subprocess.run(
        [*console_script, "optim", "-m", target, "--steps", "1", "-f", "jsonl"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert [r["step"] for r in jsonl(out.stdout)] == [0, 1]


@pytest.mark.parametrize("command", fast_cases(["optim", "compare", "params", "graph"]))
@pytest.mark.parametrize(
    "model", fast_cases(["mymodels.py", "models/mymodels.py", "pkg.mymodels"], 2)
)
def test_a_model_without_its_factory_says_how_to_name_it(invoke, command, model):
    one_line_error(
        invoke(command, "--model", model),
        f"--model {model}: name the function that builds the model too, as {model}:FACTORY",
    )


def test_params_and_graph_take_your_model(invoke, factory_file):
    rows = jsonl(invoke("params", "--model", f"{factory_file}:build", "-f", "jsonl").stdout)
    assert [(r["name"], r["kind"]) for r in rows] == [
        ("p", "Parameter"),
        ("target", "persistent buffer"),
    ]
    tree = invoke("graph", "--model", f"{factory_file}:build", "-f", "table").stdout
    assert "AccumulateGrad ← p [2]" in tree


# --- checkpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", fast_cases(["manual", "optim"]))
@pytest.mark.parametrize("optimizer", fast_cases(list(catalog()), {"adam"}))
def test_resume_continues_byte_identically(invoke, tmp_path, path, optimizer):
    extra = {
        "sgd": ["--momentum", "0.9"],
        "rmsprop": ["--centered", "--momentum", "0.5"],
        "adam": ["--amsgrad"],
    }.get(optimizer, [])
    model = catalog()[optimizer].problem or "mlp"  # SparseAdam needs sparse gradients
    args = [path, "-m", model, "-o", optimizer, *extra, "-f", "jsonl", "--state"]
    whole = invoke(*args, "--steps", "100").stdout
    ckpt = tmp_path / "a.pt"
    first = invoke(*args, "--steps", "50", "--save", str(ckpt))
    second = invoke(*args, "--steps", "50", "--resume", str(ckpt))
    assert first.exit_code == second.exit_code == 0, second.stderr
    assert jsonl(second.stdout)[0]["step"] == 51
    assert first.stdout + second.stdout == whole
    assert sorted(os.listdir(tmp_path)) == ["a.pt"]


def test_a_checkpoint_resumes_on_the_other_path(invoke, tmp_path):
    ckpt = tmp_path / "a.pt"
    invoke("optim", "-m", "mlp", "-o", "adam", "--steps", "20", "--save", str(ckpt))
    by_optim = invoke(
        "optim", "-m", "mlp", "-o", "adam", "--steps", "20", "--resume", str(ckpt), "-f", "jsonl"
    )
    by_manual = invoke(
        "manual", "-m", "mlp", "-o", "adam", "--steps", "20", "--resume", str(ckpt), "-f", "jsonl"
    )
    assert by_manual.stdout == by_optim.stdout


@pytest.mark.slow
def test_resume_alone_goes_on_with_the_checkpoints_run(invoke, tmp_path):
    """--resume FILE without options: the model, optimizer (with its lr and keywords), steps
    and seed of the checkpoint; the two halves print what the whole run prints."""
    ckpt = tmp_path / "a.pt"
    run = ["-m", "mlp", "-o", "Adam(lr=0.02, betas=(0.8, 0.99))", "--seed", "3", "-f", "jsonl"]
    whole = invoke("optim", *run, "--steps", "20").stdout
    first = invoke("optim", *run, "--steps", "10", "--save", str(ckpt))
    second = invoke("optim", "--resume", str(ckpt), "-f", "jsonl")
    assert second.exit_code == 0, second.stderr
    assert first.stdout + second.stdout == whole
    assert second.stderr.startswith("gradcli: steps 11–20 (resumed from step 10), loss ")
    table = invoke("manual", "--resume", str(ckpt), "-f", "table").stdout
    assert "steps           11–20 (resumed from step 10)" in table


def test_options_given_with_resume_win_and_are_checked(invoke, tmp_path):
    ckpt = tmp_path / "a.pt"
    invoke("optim", "-m", "mlp", "-o", "adam", "--steps", "10", "--save", str(ckpt))
    shorter = invoke("optim", "--resume", str(ckpt), "--steps", "2", "--lr", "0.5", "-f", "jsonl")
    assert [r["step"] for r in jsonl(shorter.stdout)] == [11, 12]
    slower = invoke("optim", "--resume", str(ckpt), "--steps", "2", "--lr", "0", "-f", "jsonl")
    assert jsonl(slower.stdout)[-1]["params"] != jsonl(shorter.stdout)[-1]["params"]
    for args, message in [
        (["-m", "linear"], "the checkpoint is for --model mlp, this run has --model linear"),
        (["-o", "sgd"], "the checkpoint is for --optimizer adam, this run has --optimizer sgd"),
        (["--momentum", "0.9"], "--momentum does not apply to --optimizer adam"),
    ]:
        result = invoke("optim", "--resume", str(ckpt), *args)
        assert result.exit_code == 2 and result.stdout == ""
        assert message in result.stderr and len(result.stderr.splitlines()) == 1


def test_checkpoint_contents_load_safely(invoke, tmp_path):
    ckpt = tmp_path / "a.pt"
    invoke("manual", "-m", "linear", "-o", "adam", "--steps", "3", "--save", str(ckpt))
    saved = torch.load(ckpt, weights_only=True)
    assert saved["format"] == "gradcli-checkpoint" and saved["step"] == 3
    assert set(saved["model"]) == {"x", "y", "linear.weight", "linear.bias"}
    assert set(saved["update_state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert saved["config"]["optimizer"] == "adam" and isinstance(
        saved["rng"]["torch"], torch.Tensor
    )


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize(
    ("make", "fragment"),
    fast_cases(
        [
            (lambda p, good: p.write_bytes(good.read_bytes()[:700]), "not a readable checkpoint"),
            (
                lambda p, good: p.write_text("hello"),
                "not a checkpoint: it is a text file; --resume takes a checkpoint written by",
            ),
            (lambda p, good: torch.save({"format": "other"}, p), "not a gradcli checkpoint"),
            (
                lambda p, good: torch.save(Evil(), p),
                "refused: it holds Python objects other than tensors and plain data",
            ),
            (
                lambda p, good: p.write_text('{"step": 0, "loss": 1.0, "params": {}}\n'),
                "not a checkpoint: it is JSON lines (the records of a run, as -f jsonl writes",
            ),
        ],
        2,
        several=True,
    ),
    ids=["truncated", "text", "foreign", "unsafe-pickle", "jsonl"],
)
def test_damaged_or_foreign_checkpoints_are_refused(invoke, tmp_path, make, fragment):
    good = tmp_path / "good.pt"
    invoke("optim", "-m", "mlp", "--steps", "2", "--save", str(good))
    bad = tmp_path / "bad.pt"
    make(bad, good)
    result = invoke("optim", "-m", "mlp", "--resume", str(bad))
    one_line_error(result, f"--resume {bad}", fragment)
    assert "weights_only" not in result.stderr  # torch's words, and its unsafe advice


def test_incompatible_checkpoints_are_refused(invoke, tmp_path, factory_file):
    ckpt = tmp_path / "a.pt"
    invoke("optim", "-m", "mlp", "-o", "adam", "--steps", "2", "--save", str(ckpt))
    one_line_error(
        invoke("optim", "-m", "linear", "-o", "adam", "--resume", str(ckpt)),
        "the checkpoint is for --model mlp, this run has --model linear",
    )
    one_line_error(
        invoke("optim", "-m", "mlp", "-o", "sgd", "--resume", str(ckpt)),
        "the checkpoint is for --optimizer adam, this run has --optimizer sgd",
    )
    one_line_error(
        invoke("optim", "-m", "mlp", "-o", "adam", "--dtype", "float64", "--resume", str(ckpt)),
        "--dtype float32, this run has --dtype float64",
    )
    one_line_error(
        invoke("optim", "-m", "mlp", "--resume", str(tmp_path / "none.pt")), "no such file"
    )
    one_line_error(invoke("optim", "--save", str(tmp_path / "no" / "a.pt")), "no such folder")


def test_other_shapes_are_refused(invoke, tmp_path):
    small = tmp_path / "small.py"
    small.write_text(
        "import torch\nfrom torch import nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self, n):\n"
        "        super().__init__(); self.w = nn.Parameter(torch.ones(n))\n"
        "    def forward(self):\n"
        "        return self.w.sum()\n"
        "def two(): return M(2)\n"
        "def three(): return M(3)\n"
    )
    ckpt = tmp_path / "a.pt"
    invoke("optim", "-m", f"{small}:two", "--steps", "1", "--save", str(ckpt))
    # the same model name is needed to get past the name check: rename the factory
    small.write_text(small.read_text().replace("def two(): return M(2)", "def two(): return M(3)"))
    one_line_error(
        invoke("optim", "-m", f"{small}:two", "--resume", str(ckpt)),
        "its parameters do not fit this model",
    )


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=str)
def test_ctrl_c_sigterm_and_sighup_save_a_checkpoint_that_resumes(tmp_path, stop):
    """SIGTERM (timeout, kill, a batch scheduler) and SIGHUP (a closed terminal) end a run as
    Ctrl-C does: after the current step, checkpoint written, 128 + the signal's number."""
    ckpt = tmp_path / "a.pt"
    proc = gradcli_process(
        "optim",
        "-m",
        "mlp",
        "--steps",
        "100000000",
        "-f",
        "jsonl",
        "--save",
        str(ckpt),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    for _ in range(3):
        proc.stdout.readline()
    proc.send_signal(stop)
    records = jsonl(proc.stdout.read().decode())
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert proc.returncode == 128 + stop
    stopped = records[-1]["step"]
    named = "" if stop == signal.SIGINT else f" ({stop.name})"
    assert err == (
        f"gradcli: saving checkpoint {ckpt}\n"
        f"gradcli: interrupted: stopped after step {stopped} of 100000000{named}\n"
    )
    saved = torch.load(ckpt, weights_only=True)
    assert saved["step"] == stopped
    assert saved["end"] == 100000000  # so that --resume alone finishes the run


BIG = textwrap.dedent("""
    import torch
    from torch import nn

    class Big(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(40_000_000))

        def forward(self):
            return self.w[:10].sum()

    def build():
        return Big()
""")


@pytest.mark.slow
def test_sigkill_while_saving_leaves_the_old_checkpoint_and_no_temporary_file(tmp_path):
    model = tmp_path / "big.py"
    model.write_text(BIG)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    ckpt = folder / "a.pt"
    args = ["optim", "-m", f"{model}:build", "--steps", "0", "-f", "jsonl", "--save", str(ckpt)]
    subprocess.run(
        [sys.executable, "-m", "gradcli", *args, "--seed", "1"], check=True, capture_output=True
    )
    old = torch.load(ckpt, weights_only=True)["model"]["w"][:5].clone()
    proc = gradcli_process(*args, "--seed", "2", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = proc.stderr.readline()  # "gradcli: saving checkpoint ...", just before writing
    assert b"saving checkpoint" in line
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert os.listdir(folder) == ["a.pt"]  # no temporary file, whenever the kill landed
    saved = torch.load(ckpt, weights_only=True)["model"]["w"][:5]
    torch.manual_seed(2)
    new = torch.randn(40_000_000)[:5]
    assert torch.equal(saved, old) or torch.equal(saved, new)  # whole, old or new
