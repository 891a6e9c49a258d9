"""``--print-script``: the printed script, run on its own, prints gradcli's JSON lines bit for
bit, for every optimizer, both paths and several problems; it passes ``ruff check``, is laid
out as ``ruff format`` lays it out, and imports nothing of gradcli. All scripts of a test run
in one process. And ``gradcli.script.source``, which reads the rules (and their helpers) that
``--print-script`` and ``--show-code`` print."""

from __future__ import annotations

import gzip
import inspect
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gradcli import optimizers
from gradcli.data import idx
from gradcli.optimizers import adam, adamax, lbfgs, muon, sgd
from gradcli.problems import BUILTINS
from gradcli.schedules.onecyclelr import OneCycleLRRule
from gradcli.schedules.steplr import StepLRRule
from gradcli.script.source import gather
from gradcli.spec import RunSpec
from tests.helpers import bits, jsonl, unshrunk
from tests.strategies import run_specs

# Run each script with runpy in one process (one `import torch` for all), its stdout kept.
_RUNNER = """
import contextlib, io, json, runpy, sys
import torch
torch.set_num_threads(1)  # as gradcli runs a small model
out = {}
for path in sys.argv[1:]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        ran = runpy.run_path(path, run_name="__main__")
    out[path] = buffer.getvalue()
    final = {name: p.detach() for name, p in ran["model"].named_parameters()}
    torch.save(final, path + ".pt")  # the parameters at the end
print(json.dumps(out))
"""


def run_scripts(paths: list[Path]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(done.stdout)


def same_numbers(mine: object, gradcli: object) -> bool:
    """Equal, every number bit for bit (a parsed float is the same double): the script's
    statistics are taken as gradcli's recorder takes them (``gradcli.measure``)."""
    return mine == gradcli


def assert_same_run(script_output: str, gradcli_output: str) -> None:
    """The same bytes (and first, for a readable failure, the same records)."""
    ours, theirs = jsonl(script_output), jsonl(gradcli_output)
    assert len(ours) == len(theirs)
    for mine, gradcli in zip(ours, theirs, strict=True):
        assert same_numbers(mine, gradcli), (mine, gradcli)
    assert script_output == gradcli_output


def assert_same_parameters(script_path: Path, checkpoint: Path) -> None:
    """The parameters the script ends with are gradcli's, bit for bit (even where the
    lines show only statistics)."""
    mine = torch.load(str(script_path) + ".pt", weights_only=True)
    gradcli = torch.load(checkpoint, weights_only=True)["model"]
    for name, value in mine.items():
        assert torch.equal(bits(value), bits(gradcli[name])), name


def check(invoke, folder: Path, runs: list[list[str]]) -> list[str]:
    """Print each run's script, run them all in one process, and hold each to gradcli's
    own JSON lines of the same run; the scripts pass ruff check with the project's rules and
    are laid out as ruff format would. A run
    that diverges (exit 3) is left out. Returns what each script printed."""
    paths, expected, kept = [], [], []
    for args in runs:
        checkpoint = folder / f"run_{len(paths)}.ckpt"
        ran = invoke(*args, "-f", "jsonl", "-q", "--save", str(checkpoint))
        if ran.exit_code == 3:
            continue
        assert ran.exit_code == 0, (args, ran.stderr)
        printed = invoke(*args, "--print-script")
        assert printed.exit_code == 0, (args, printed.stderr)
        assert "gradcli" not in "".join(
            line for line in printed.stdout.splitlines() if line.startswith(("import", "from"))
        )
        path = folder / f"run_{len(paths)}.py"
        path.write_text(printed.stdout)
        paths.append(path)
        expected.append(ran.stdout)
        kept.append(args)
    runs = kept
    lint(paths)
    outputs = run_scripts(paths)
    for args, path, gradcli_output in zip(runs, paths, expected, strict=True):
        print(args)
        assert_same_run(outputs[str(path)], gradcli_output)
        assert_same_parameters(path, path.with_suffix(".ckpt"))
    mine, theirs = folder / "script.jsonl", folder / "gradcli.jsonl"  # as a user checks
    mine.write_text(outputs[str(paths[0])])
    theirs.write_text(expected[0])
    assert invoke("diff", str(mine), str(theirs)).exit_code == 0
    return [outputs[str(path)] for path in paths]


def lint(paths: list[Path]) -> None:
    """The scripts pass ruff check with the project's rules and are laid out as ruff format
    would lay them out."""
    lint = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--config",
            str(Path(__file__).parents[1] / "pyproject.toml"),
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    layout = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--check",
            "--diff",
            "--no-cache",
            "--config",
            str(Path(__file__).parents[1] / "pyproject.toml"),
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
    )
    assert layout.returncode == 0, layout.stdout  # laid out as ruff format lays out code


@pytest.mark.slow
def test_the_seed_example_is_the_same_run_on_both_paths(invoke, tmp_path):
    """The issue's example: one SGD step on w = [1, 2, 3], loss = mean(w)."""
    runs = [[path, "-m", "seed", "--lr", "0.001", "--steps", "1"] for path in ("manual", "optim")]
    outputs = check(invoke, tmp_path, runs)
    script = invoke(*runs[0], "--print-script").stdout
    assert inspect.getsource(sgd.sgd) in script  # the rule itself, docstring and all
    loop = script.split("for step")[1]
    assert "        sgd(\n" in loop and "    momentum=0.0,\n" in loop and "    lr=lr,\n" in loop
    for output in outputs:
        last = jsonl(output)[-1]["params"]["w"]["value"]
        assert last == pytest.approx([0.99966669, 1.99966669, 2.99966669], abs=5e-9)


def command_line(path: str, spec: RunSpec) -> list[str]:
    """``spec`` as gradcli's arguments, the optimizer in torch's constructor syntax."""
    keywords = ", ".join(f"{k}={v!r}" for k, v in spec.settings.items())
    args = [path, "-m", spec.model, "-o", f"{spec.optimizer}({keywords})"]
    if spec.lr is not None:
        args += ["--lr", repr(spec.lr)]
    return [*args, "--steps", str(spec.steps), "--seed", str(spec.seed), "--dtype", spec.dtype]


WRITTEN = list(optimizers.catalog())  # every for-loop rule, LBFGS's (with its closure) too
STEPPED = list(optimizers.catalog())  # torch.optim's loop: every one, LBFGS's closure too


@pytest.mark.slow
@pytest.mark.parametrize("name", WRITTEN)
def test_every_rule_is_written_as_it_is_and_repeats_gradcli(invoke, tmp_path, name):
    """``manual --print-script`` writes each optimizer's own for-loop rule (its source,
    docstring and all, and the gradcli helpers it calls), calls it as gradcli does, and
    prints gradcli's lines bit for bit: at torch's defaults, on a problem it takes."""
    optimizer = optimizers.find(name)
    args = ["manual", "-m", optimizer.problem or "mlp", "-o", name, "--steps", "3"]
    check(invoke, tmp_path, [args])
    script = invoke(*args, "--print-script").stdout
    for function in gather(optimizer.rule).definitions:
        assert function.code in script, function.name
    imports = [line.strip() for line in script.splitlines() if "import " in line]
    assert not [line for line in imports if line.startswith(("from gradcli", "import gradcli"))]


@pytest.mark.slow
def test_the_other_branches_of_the_rules_are_the_same_run(invoke, tmp_path):
    """Settings that take the rules' other branches, which torch's defaults leave out:
    momentum and Nesterov, amsgrad with weight decay, decoupled decay, centered RMSprop with
    momentum, sparse gradients, LBFGS's line search, Muon's other lr scale, Adafactor's ε1
    given; float64 too."""
    runs = [
        ["-m", "linear", "-o", "SGD(momentum=0.9, nesterov=True, weight_decay=0.01)"],
        ["-m", "linear", "-o", "Adam(amsgrad=True, weight_decay=0.1)", "--dtype", "float64"],
        ["-m", "linear", "-o", "RAdam(decoupled_weight_decay=True, weight_decay=0.1)"],
        ["-m", "linear", "-o", "RMSprop(centered=True, momentum=0.5)", "--lr", "0.001"],
        ["-m", "embedding", "-o", "Adagrad(lr_decay=0.01)"],
        ["-m", "embedding", "-o", "SGD(momentum=0.9)"],
        ["-m", "linear", "-o", "LBFGS(line_search_fn='strong_wolfe', history_size=3)"],
        ["-m", "mlp", "-o", "Muon(adjust_lr_fn='match_rms_adamw', nesterov=False)"],
        ["-m", "mlp", "-o", "Adafactor(eps=(1e-30, 0.001), weight_decay=0.1)"],
    ]
    outputs = check(invoke, tmp_path, [["manual", *args, "--steps", "3"] for args in runs])
    assert len(outputs) == len(runs)  # (check leaves out a run that diverges: none did)


def every(names: list[str]):
    """One run of each optimizer in ``names``: its settings, problem, dtype, seed, lr drawn."""
    return st.tuples(*(run_specs([name], models=list(BUILTINS), steps=3) for name in names))


# No shrinking: every example runs dozens of scripts (the failing run's arguments are printed).
# The first example is each optimizer at torch's defaults, the second drawn settings.
@pytest.mark.slow
@unshrunk(2)
@given(manual=every(WRITTEN), optim=every(STEPPED))
def test_printed_scripts_repeat_gradcli_bit_for_bit(invoke, tmp_path_factory, manual, optim):
    """Every optimizer a script writes by hand, and every one torch.optim steps, on the
    problems each takes, float32 and float64, any seed and settings."""
    runs = [command_line("manual", s) for s in manual]
    runs += [command_line("optim", s) for s in optim]
    check(invoke, tmp_path_factory.mktemp("scripts"), runs)


@pytest.mark.slow
def test_muon_with_adamw_and_the_implementations_torch_offers(invoke, tmp_path):
    """Muon trains the matrices of the MLP, AdamW its biases: two optimizers, two rules,
    their settings apart (Muon's eps and AdamW's). And --impl: torch.optim's foreach and
    fused kernels in an optim script, the for-loop in a manual one."""
    runs = [[path, "-m", "mlp", "-o", "muon", "--steps", "2"] for path in ("manual", "optim")]
    runs += [
        ["optim", "-m", "linear", "-o", "nadam", "--impl", "foreach", "--steps", "3"],
        ["optim", "-m", "linear", "-o", "adam", "--impl", "fused", "--steps", "3"],
        ["manual", "-m", "linear", "-o", "radam", "--impl", "forloop", "--steps", "3"],
    ]
    check(invoke, tmp_path, runs)
    assert "foreach=True" in invoke(*runs[2], "--print-script").stdout
    for path in ("manual", "optim"):
        script = invoke(path, "-m", "mlp", "-o", "muon", "--steps", "2", "--print-script").stdout
        # the split is Muon's own takes=, not a retyped copy of it
        assert inspect.getsource(muon._two_dimensional) in script
        assert "if not _two_dimensional(tuple(p.shape))]" in script
    manual = invoke(*runs[0], "--print-script").stdout
    assert "    eps=1e-07,\n" in manual and "    eps=1e-08,\n" in manual  # Muon's, AdamW's


MODEL_FILE = '''
import torch
from torch import nn


class Quadratic(nn.Module):
    """A bowl in two parameters (one through dropout), and a third that no loss uses (it
    gets no gradient)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.randn(3))
        self.b = nn.Parameter(torch.randn(2, 2))
        self.unused = nn.Parameter(torch.ones(2))

    def forward(self) -> torch.Tensor:
        a = torch.nn.functional.dropout(self.a, 0.25)  # random: the same draws, or not the run
        return (a**2).sum() + (self.b @ self.b).sum() ** 2


def build() -> nn.Module:
    return Quadratic()
'''


@pytest.mark.slow
def test_a_users_model_file_and_module_are_the_same_run(invoke, tmp_path, monkeypatch):
    """``--model file.py:factory`` and ``package.module:factory``: the script imports the
    user's factory the way gradcli does, skips a parameter without a gradient, and draws
    the same random numbers (dropout) as gradcli."""
    (tmp_path / "mymodel.py").write_text(MODEL_FILE)
    monkeypatch.chdir(tmp_path)
    file, module = str(tmp_path / "mymodel.py") + ":build", "mymodel:build"
    runs = [
        ["manual", "-m", file, "-o", "adam", "--steps", "3", "--seed", "4"],
        ["optim", "-m", file, "-o", "SGD(momentum=0.9)", "--lr", "0.01", "--steps", "3"],
        ["manual", "-m", module, "-o", "rmsprop", "--steps", "3", "--every", "2"],
        ["manual", "-m", file, "-o", "lbfgs", "--steps", "2"],  # every parameter, one unused
    ]
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    check(invoke, scripts, runs)


def test_the_surfaces_are_scripts_too(invoke, tmp_path):
    """The 2-D surfaces: their function from gradcli/surfaces.py, written into the script."""
    runs = [
        ["optim", "-m", "rosenbrock", "-o", "adam", "--steps", "4"],
        ["manual", "-m", "beale", "-o", "rmsprop", "--steps", "3", "--dtype", "float64"],
        ["optim", "-m", "himmelblau", "-o", "SGD(momentum=0.9)", "--steps", "3"],
        ["manual", "-m", "rastrigin", "-o", "adagrad", "--steps", "3"],
    ]
    check(invoke, tmp_path, runs)


CLIPS = [
    ["--clip-norm", "1"],
    ["--clip-norm", "0.05", "--norm-type", "inf"],
    ["--clip-norm", "0.5", "--norm-type", "1"],
    ["--clip-value", "0.01"],
]
SCHEDULES = [
    "StepLR(step_size=10, gamma=0.5)",
    "ReduceLROnPlateau(patience=2)",
    "OneCycleLR(max_lr=0.1, total_steps=30)",
    "SequentialLR(schedulers=[LinearLR(start_factor=0.5, total_iters=5), "
    "ExponentialLR(gamma=0.9)], milestones=[5])",
    "ChainedScheduler(schedulers=[ConstantLR(factor=0.5, total_iters=3), "
    "ExponentialLR(gamma=0.9)])",
]


def test_save_and_resume_on_data_go_both_ways_byte_for_byte(invoke, tmp_path):
    """--save and --resume with --data: the checkpoint holds where the DataLoader is (its
    epoch, the batches taken, its generator as the epoch began, the epoch's sums); saved
    inside the first epoch, resumed past the end of the second."""
    run = ["manual", "--data", "digits", "-m", "mlp", "-o", "adam", "--batch-size", "256"]
    check_save_and_resume(invoke, tmp_path, [run], (4, 6))


def test_muon_s_two_optimizers_with_a_schedule_save_and_resume(invoke, tmp_path):
    """Muon and AdamW, each with its own scheduler (torch's on the optim path, the rule by
    hand on the manual path), saved and resumed both ways; and a schedule that drives the
    momentum and β1 of the two by hand."""
    schedule = ["--schedule", "StepLR(step_size=2, gamma=0.5)"]
    check_save_and_resume(invoke, tmp_path, [["optim", "-m", "mlp", "-o", "muon", *schedule]])
    cycle = ["--schedule", "OneCycleLR(max_lr=0.1, total_steps=10)"]
    check(invoke, tmp_path, [["manual", "-m", "mlp", "-o", "muon", *cycle, "--steps", "5"]])


def test_explain_s_lines_are_the_same(invoke, tmp_path):
    """--explain: each record's lines (the update of each parameter's first element), by the
    optimizer's formula from its module, the numbers taken as gradcli takes them: LBFGS's
    state at each parameter's offset; text written as it is (θ, −); the clipping's line
    first, by gradcli's own function."""
    runs = [
        ["optim", "-m", "mlp", "-o", "adam", "--explain", "--steps", "3"],
        ["manual", "-m", "linear", "-o", "lbfgs", "--explain", "--steps", "2"],
        ["manual", "-m", "mlp", "-o", "sgd", "--explain", "--clip-norm", "0.1", "--steps", "2"],
    ]
    outputs = check(invoke, tmp_path, runs)
    assert jsonl(outputs[2])[1]["explain"][0].startswith("clip: N = ")
    assert all("explain" in line for line in jsonl(outputs[0])[1:])
    script = invoke(*runs[0], "--print-script").stdout
    assert inspect.getsource(adam.explain) in script  # the formula as its module holds it


@pytest.mark.slow
def test_explain_with_every_optimizer_and_the_rest(invoke, tmp_path):
    """--explain with every optimizer but Muon (test_script_explain.py), on both paths,
    with --state, sparse gradients, a user's model with a parameter without a gradient,
    --accumulate, --every, the data loop, clipping by value and by norm, and --amp bf16."""
    (tmp_path / "mymodel.py").write_text(MODEL_FILE)
    own = str(tmp_path / "mymodel.py") + ":build"
    runs = [
        [path, "-m", optimizer.problem or "linear", "-o", name, "--explain", "--steps", "2"]
        for name, optimizer in optimizers.catalog().items()
        if optimizer.rest is None
        for path in ("optim", "manual")
    ]
    data = ["--data", "digits", "-m", "mlp", "--batch-size", "256", "--explain"]
    explain = ["--explain", "--steps", "3"]
    runs += [
        ["manual", "-m", own, "-o", "adam", "--explain", "--state", "--steps", "3"],
        ["optim", "-m", "linear", "-o", "sgd", "--explain", "--accumulate", "2", "--steps", "2"],
        ["manual", *data, "-o", "SGD(momentum=0.9)", "--every", "2", "--steps", "3"],
        ["optim", *data, "-o", "rmsprop", "--accumulate", "3", "--steps", "2", "--every", "2"],
        ["optim", "-m", "linear", "-o", "lbfgs", *explain, "--clip-value", "0.01"],
        ["optim", "-m", "mlp", "-o", "adam", *explain, "--amp", "bf16", "--accumulate", "2"],
        ["manual", "-m", "mlp", "-o", "adam", *explain, "--clip-norm", "1", "--norm-type", "1"],
    ]
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    check(invoke, scripts, runs)


def test_accumulation_and_autocast_are_the_same_run(invoke, tmp_path):
    """--accumulate K: a full-batch problem's data cut in K slices, and K of the loader's
    batches an update (the last window of unequal sizes: no ULP gap), with the records'
    micro_losses, micro_grad_norms and one_batch_ulps; --amp bf16: the forward under
    torch.autocast, the closure's and the one batch's too."""
    data = ["--data", "digits", "-m", "mlp", "--batch-size", "100", "-o", "adam"]
    runs = [
        ["optim", "-m", "linear", "--accumulate", "4", "--amp", "bf16", "--steps", "3"],
        ["manual", *data, "--accumulate", "5", "--epochs", "1", "--every", "2", "--clip-norm", "1"],
    ]
    outputs = check(invoke, tmp_path, runs)
    lines = jsonl(outputs[1])  # the last window: 37 samples, then 100 a batch
    assert [line.get("one_batch_ulps") for line in lines if "params" in line][-1] is None


@pytest.mark.slow
def test_accumulation_and_autocast_with_the_rest(invoke, tmp_path):
    """--accumulate and --amp bf16 with both paths, Muon, schedules, clipping, --state, the
    CNN on the data loop, a run ending inside an epoch, and LBFGS under autocast."""
    data = ["--data", "digits", "--batch-size", "256", "--accumulate", "3"]
    runs = [
        ["manual", "-m", "mlp", "-o", "muon", "--accumulate", "2", "--steps", "3", "--state"],
        ["optim", "-m", "mlp", "-o", "adam", "--accumulate", "8", "--amp", "bf16", "--steps", "3"],
        ["manual", "-m", "linear", "-o", "lbfgs", "--amp", "bf16", "--steps", "3"],
        ["optim", "-m", "linear", "-o", "lbfgs", "--amp", "bf16", "--steps", "3"],
        ["optim", *data, "-m", "cnn", "-o", "adam", "--epochs", "2", "--amp", "bf16",
         "--schedule", "StepLR(step_size=1)", "--schedule-per", "epoch"],
        ["manual", *data, "-m", "mlp", "-o", "SGD(momentum=0.9)", "--lr", "0.1", "--steps", "3",
         "--clip-value", "0.01", "--schedule", "ReduceLROnPlateau(patience=0)"],
        ["optim", *data, "-m", "linear", "-o", "muon", "--epochs", "1", "--state"],
    ]  # fmt: skip
    check(invoke, tmp_path, runs)


def test_the_issue_s_example_clip_and_schedule(invoke, tmp_path):
    """gradcli optim -m rosenbrock -o rmsprop --schedule ... --clip-norm 1: the script prints
    what gradcli prints."""
    schedule = "StepLR(step_size=10, gamma=0.5)"
    run = ["optim", "-m", "rosenbrock", "-o", "rmsprop", "--schedule", schedule, "--clip-norm", "1"]
    check(invoke, tmp_path, [[*run, "--steps", "30"], ["manual", "-m", "mlp", "--state"]])


@pytest.mark.slow
def test_state_on_both_paths(invoke, tmp_path):
    """--state: each parameter's optimizer state in the lines, torch.optim's or the rules'
    (numbers, tensors, sparse ones, LBFGS's lists; Muon's two optimizers merged)."""
    runs = [
        [path, "-m", model, "-o", optimizer, "--state", "--steps", "4"]
        for path in ("optim", "manual")
        for model, optimizer in (
            ("mlp", "adam"),
            ("linear", "lbfgs"),
            ("mlp", "muon"),
            ("embedding", "adagrad"),
            ("linear", "asgd"),
            ("mlp", "adafactor"),
        )
    ]
    data = ["--data", "digits", "-m", "mlp", "--batch-size", "256", "-o", "SGD(momentum=0.9)"]
    runs.append(["manual", *data, "--state", "--clip-norm", "1", "--steps", "8"])
    check(invoke, tmp_path, runs)


@pytest.mark.slow
def test_clipping_on_both_paths_and_schedules_with_torch(invoke, tmp_path):
    """Every kind of clipping by hand and with torch, on problems of one, a few and many
    tensors (LBFGS clips inside its closure too), and torch's schedulers, nested ones too,
    with and without clipping and on the data loop."""
    runs = []
    for i, clip in enumerate(CLIPS):
        model = ["linear", "mlp", "seed", "beale"][i]
        for path in ("optim", "manual"):
            runs.append([path, "-m", model, "-o", "SGD(momentum=0.9)", *clip, "--steps", "20"])
        runs.append(["manual", "-m", "linear", "-o", "lbfgs", "--lr", "0.1", *clip, "--steps", "4"])
    for i, schedule in enumerate(SCHEDULES):
        clip = CLIPS[i % len(CLIPS)] if i % 2 else []
        optimizer = "SGD(momentum=0.9)" if "OneCycle" in schedule else "adam"
        runs.append(
            ["optim", "-m", "mlp", "-o", optimizer, "--schedule", schedule, *clip, "--steps", "30"]
        )
    data = ["--data", "digits", "-m", "mlp", "--batch-size", "256", "-o", "adam"]
    runs.append(["optim", *data, "--clip-norm", "1", "--schedule", SCHEDULES[0], "--steps", "9"])
    check(invoke, tmp_path, runs)


@pytest.mark.slow
def test_hand_written_schedules_on_the_manual_path(invoke, tmp_path):
    """--schedule on the manual path: the rule's class (and its base, and the rules nested in
    SequentialLR and ChainedScheduler) written out from gradcli's source, the momentum or β1
    OneCycleLR and CyclicLR drive passed to the update from the group; with clipping, LBFGS,
    on the data loop, and --schedule-per epoch on both paths (ReduceLROnPlateau fed the
    held-out loss, or the training loss without held-out data)."""
    runs = []
    for i, schedule in enumerate(
        [*SCHEDULES, "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=5)"]
    ):
        clip = CLIPS[i % len(CLIPS)] if i % 2 else []
        optimizer = "SGD(momentum=0.9)" if "OneCycle" in schedule else "adam"
        runs.append(
            ["manual", "-m", "mlp", "-o", optimizer, "--schedule", schedule, *clip, "--steps", "30"]
        )
    runs.append(["manual", "-m", "linear", "-o", "lbfgs", "--lr", "0.1", "--steps", "6"])
    runs[-1] += ["--schedule", "CosineAnnealingWarmRestarts(T_0=3)"]
    data = ["--data", "digits", "-m", "mlp", "--batch-size", "256", "-o", "adam", "--epochs", "3"]
    plateau = ["--schedule", "ReduceLROnPlateau(patience=0)", "--schedule-per", "epoch"]
    step = ["--schedule", "StepLR(step_size=1, gamma=0.5)", "--schedule-per", "epoch"]
    runs += [[path, *data, *plateau] for path in ("manual", "optim")]
    runs += [[path, *data, *step, "--val-fraction", "0"] for path in ("manual", "optim")]
    runs.append(["manual", *data, *plateau, "--val-fraction", "0", "--state"])
    outputs = check(invoke, tmp_path, runs)
    assert len(outputs) == len(runs)
    script = invoke(*runs[0], "--print-script").stdout
    assert inspect.getsource(StepLRRule.get_lr) in script  # the rule as its module holds it
    assert "def state_dict" not in script  # (trimmed to what runs)
    lrs = [json.loads(line)["lr"] for line in outputs[-3].splitlines() if "epoch_end" in line]
    assert lrs == [lrs[0], lrs[0] / 2, lrs[0] / 4]  # (StepLR stepped once an epoch)


@pytest.mark.slow
def test_save_and_resume_go_both_ways_byte_for_byte(invoke, tmp_path):
    """A script run with --save prints gradcli's lines and writes a checkpoint gradcli
    --resume continues exactly as from its own; a script run with --resume loads gradcli's
    checkpoint and prints what gradcli --resume prints: both paths, a schedule fed the loss
    (its losses saved and replayed), one moving the momentum, LBFGS, float64 with --state."""
    runs = [
        ["manual", "-m", "seed", "-o", "adam"],
        ["optim", "-m", "mlp", "-o", "adam", "--every", "2"],
        [
            "manual",
            "-m",
            "mlp",
            "-o",
            "SGD(momentum=0.9)",
            "--schedule",
            "ReduceLROnPlateau(patience=0)",
        ],
        [
            "optim",
            "-m",
            "mlp",
            "-o",
            "SGD(momentum=0.9)",
            "--schedule",
            "ReduceLROnPlateau(patience=0)",
        ],
        [
            "manual",
            "-m",
            "mlp",
            "-o",
            "SGD(momentum=0.9)",
            "--clip-norm",
            "1",
            "--schedule",
            "OneCycleLR(max_lr=0.1, total_steps=12)",
        ],
        [
            "optim",
            "-m",
            "mlp",
            "-o",
            "SGD(momentum=0.9)",
            "--schedule",
            "OneCycleLR(max_lr=0.1, total_steps=12)",
        ],
        ["manual", "-m", "linear", "-o", "lbfgs", "--lr", "0.1"],
        ["optim", "-m", "linear", "-o", "lbfgs", "--lr", "0.1"],
        ["manual", "-m", "mlp", "-o", "adam", "--dtype", "float64", "--state"],
        ["optim", "-m", "mlp", "-o", "muon", "--schedule", "ReduceLROnPlateau(patience=0)"],
        ["manual", "-m", "mlp", "-o", "muon", "--state", "--schedule", "StepLR(step_size=2)"],
    ]
    check_save_and_resume(invoke, tmp_path, runs)


@pytest.mark.slow
def test_save_and_resume_on_data_in_every_place_of_an_epoch(invoke, tmp_path, monkeypatch):
    """With --data: saved inside an epoch and at its end, resumed into the next, over
    several epochs; in order and shuffled, the last batch dropped, --accumulate, a schedule
    once an epoch fed the held-out or the training loss, Muon, a regression (no accuracy)
    and a user's network with dropout (torch's random numbers saved and restored)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(NETWORK_FILE)
    prices = _write_table(
        tmp_path / "prices.csv",
        ["a", "b", "price"],
        [[i % 7, i % 5, 2 * (i % 7) - (i % 5)] for i in range(120)],
    )
    data = ["--data", "digits", "-m", "mlp", "--batch-size", "256"]
    plateau = ["--schedule", "ReduceLROnPlateau(patience=0)", "--schedule-per", "epoch"]
    cases = [
        ((6, 3), ["optim", *data, "-o", "adam", "--no-shuffle"]),
        ((5, 13), ["manual", *data, "-o", "SGD(momentum=0.9)", "--lr", "0.1", "--drop-last"]),
        ((2, 5), ["optim", *data, "-o", "adam", "--accumulate", "3", "--amp", "bf16"]),
        ((6, 12), ["manual", *data, "-o", "adam", *plateau]),
        ((6, 12), ["optim", *data, "-o", "adam", *plateau, "--val-fraction", "0"]),
        ((4, 3), ["optim", *data, "-o", "muon", "--state"]),
        ((7, 4), ["manual", "--data", prices, "--target", "price", "-m", "linear", "-o", "sgd",
                  "--lr", "0.01", "--batch-size", "25"]),
        ((3, 9), ["optim", "--data", "digits", "-m", "net.py:build", "-o", "adam",
                  "--batch-size", "256"]),
    ]  # fmt: skip
    for i, (steps, args) in enumerate(cases):
        folder = tmp_path / f"case_{i}"
        folder.mkdir()
        check_save_and_resume(invoke, folder, [args], steps)


def check_save_and_resume(invoke, tmp_path: Path, runs: list[list[str]], steps=(3, 4)) -> None:
    """Each run saved after ``steps[0]`` steps and resumed for ``steps[1]`` more, by gradcli
    and by its script: the script's lines are gradcli's byte for byte both ways, and gradcli
    goes on from the script's checkpoint as from its own."""
    paths, expected = [], []
    saved_steps, resumed_steps = map(str, steps)
    for i, args in enumerate(runs):
        theirs, mine = tmp_path / f"gradcli_{i}.ckpt", tmp_path / f"script_{i}.ckpt"
        first = invoke(*args, "--steps", saved_steps, "-f", "jsonl", "-q", "--save", str(theirs))
        resumed = invoke(
            *args, "--steps", resumed_steps, "-f", "jsonl", "-q", "--resume", str(theirs)
        )
        assert first.exit_code == resumed.exit_code == 0, (first.stderr, resumed.stderr)
        for option, file, output in (("--save", mine, first), ("--resume", theirs, resumed)):
            steps = saved_steps if option == "--save" else resumed_steps
            printed = invoke(*args, "--steps", steps, option, str(file), "--print-script")
            assert printed.exit_code == 0, printed.stderr
            paths.append(tmp_path / f"run_{len(paths)}.py")
            paths[-1].write_text(printed.stdout)
            expected.append(output.stdout)
    lint(paths)
    outputs = run_scripts(paths)
    for path, output in zip(paths, expected, strict=True):
        assert outputs[str(path)] == output, path
    for i, args in enumerate(runs):  # gradcli goes on from the script's checkpoint as from its own
        again = invoke(
            *args,
            "--steps",
            resumed_steps,
            "-f",
            "jsonl",
            "-q",
            "--resume",
            str(tmp_path / f"script_{i}.ckpt"),
        )
        assert again.exit_code == 0 and again.stdout == expected[2 * i + 1], (args, again.stderr)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["manual", "-f", "table"], "prints JSON lines, not --format table"),
        (["manual", "-o", "adam", "--impl", "foreach"], "add --impl forloop"),
    ],
)
def test_what_a_script_cannot_repeat_is_one_line_and_exit_2(invoke, args, says):
    result = invoke(*args, "--print-script")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


def test_a_rule_is_gathered_with_the_gradcli_helpers_it_calls():
    """Adam's rule calls ``_start``, which imports ``scalar_dtype`` inside its body: both are
    gathered, the import line dropped where the definition is inlined; the rest of what the
    code reads becomes import lines."""
    gathered = gather(adam.adamw)
    assert [d.name for d in gathered.definitions] == ["adamw", "adam", "_start", "scalar_dtype"]
    assert {d.where for d in gathered.definitions} == {
        "gradcli/optimizers/adam.py",
        "gradcli/optimizers/_scalars.py",
    }
    start = gathered.definitions[2].code
    assert "from gradcli" not in start and "\n\n\n" not in start
    dropped = "\n\n    from gradcli.optimizers._scalars import scalar_dtype\n\n    if not state"
    assert start.replace("\n\n    if not state", dropped) == inspect.getsource(adam._start)
    assert set(gathered.imports) == {"import torch", "from torch import Tensor"}


def test_a_class_is_gathered_after_its_bases_trimmed_to_what_runs():
    """A scheduler's rule comes after its gradcli base ``Rule``, each with the methods that
    building and stepping it runs (``get_lr``, ``super().__init__``; not ``state_dict``, nor
    the base's ``get_lr`` that every gathered rule overrides), with the helpers and classes
    its code reads (``phases``, ``GradcliError``) and plain imports for the rest."""
    gathered = gather(classes=(OneCycleLRRule, StepLRRule))
    names = [d.name for d in gathered.definitions]
    assert names.index("Rule") < names.index("OneCycleLRRule") < names.index("StepLRRule")
    assert {"phases", "_phase", "total", "set_momentum", "GradcliError"} <= set(names)
    code = {d.name: d.code for d in gathered.definitions}
    assert "def __init__" in code["Rule"] and "def state_dict" not in code["Rule"]
    assert "def get_lr" not in code["Rule"] and "def get_lr" in code["StepLRRule"]
    assert inspect.getsource(OneCycleLRRule.anneal) in code["OneCycleLRRule"]  # as it is
    assert set(gathered.imports) == {"import math", "from typing import Any"}


def test_constants_and_what_a_body_import_still_needs_are_kept():
    """LBFGS's strong-Wolfe constants come with it; a foreach rule's body keeps importing what
    is not a function (``foreach``) and loses the one it is given (the grouping)."""
    names = [d.name for d in gather(lbfgs.lbfgs).definitions]
    assert names[:2] == ["C1", "C2"] and "strong_wolfe" in names
    foreach = gather(sgd.sgd_foreach)
    body = foreach.definitions[[d.name for d in foreach.definitions].index("sgd_foreach")].code
    assert "    from gradcli.private_api import foreach\n" in body
    assert "group_by_device_and_dtype" in [d.name for d in foreach.definitions]


def test_two_helpers_of_one_name_are_refused_and_no_optimizer_has_them():
    with pytest.raises(ValueError, match="two functions named _start"):
        gather(adam.adam, adamax.adamax)
    for optimizer in optimizers.catalog().values():  # what one script or listing gathers
        rest = [optimizers.find(optimizer.rest).rule] if optimizer.rest else []
        takes = [optimizer.takes] if optimizer.takes else []
        gather(optimizer.rule, *rest, *takes)
        if optimizer.foreach_rule is not None:
            gather(optimizer.foreach_rule, *rest, *takes)


def test_show_code_lists_the_rule_and_its_helpers(invoke):
    """--show-code prints the same sources: the rule and each gradcli helper it calls."""
    shown = invoke("manual", "-o", "adam", "--steps", "0", "--show-code", "-f", "jsonl").stderr
    for definition in gather(adam.adam).definitions:
        assert f"# {definition.name}, from {definition.where}:" in shown
        assert definition.code in shown


DATA_RUNS = [
    ["optim", "-o", "Adam(lr=0.01)", "--batch-size", "64", "--steps", "46"],  # 2 epochs
    ["manual", "-o", "Adam(lr=0.01)", "--batch-size", "64", "--steps", "46"],
    ["optim", "-o", "SGD(momentum=0.9)", "--lr", "0.1", "--batch-size", "100", "--no-shuffle"],
    ["manual", "-o", "sgd", "--lr", "0.1", "--batch-size", "128", "--drop-last", "--epochs", "2"],
    ["optim", "-m", "cnn", "-o", "adam", "--batch-size", "256", "--data-seed", "5"],
    ["manual", "-m", "linear", "-o", "sgd", "--lr", "0.1", "--batch-size", "64", "--steps", "30"],
]


@pytest.mark.slow
def test_runs_on_data_are_the_same_run(invoke, tmp_path):
    """``--data digits``: the script reads the digits itself, holds out the same samples,
    builds the same network, draws the same batches from its own DataLoader and prints the
    same step lines (with epoch and batch) and end-of-epoch lines, on both paths: Adam and
    SGD, batch sizes 64 to 256, in order or shuffled, the last batch dropped, the MLP, the
    CNN and the linear model, a run that ends inside an epoch."""
    runs = [
        [path, "--data", "digits", *(["-m", "mlp"] if "-m" not in rest else []), *rest]
        for path, *rest in DATA_RUNS
    ]
    runs = [run if "--steps" in run else [*run, "--epochs", "1"] for run in runs]
    outputs = check(invoke, tmp_path, runs)
    assert len(outputs) == len(runs)
    for output in outputs:
        ends = [line for line in jsonl(output) if "epoch_end" in line]
        assert ends and all(line["val_accuracy"] is not None for line in ends)
    script = invoke(*runs[0], "--print-script").stdout
    for piece in ("DataLoader(", "model.eval()", "with torch.no_grad():", "manual_seed(0)"):
        assert piece in script
    imports = [line.strip() for line in script.splitlines()]
    assert not [line for line in imports if line.startswith(("from gradcli", "import gradcli"))]


@pytest.mark.slow
def test_data_runs_with_other_settings_are_the_same_run(invoke, tmp_path):
    """--every, --loss mse on the labels (one-hot), --val-fraction 0 (no held-out data),
    LBFGS's closure on the batch, Muon beside AdamW, float64."""
    base = ["--data", "digits", "-m", "mlp", "--batch-size", "256"]
    every = ["--every", "2"]
    runs = [
        ["manual", *base, "-o", "sgd", "--lr", "0.5", "--loss", "mse", "--epochs", "1", *every],
        ["optim", *base, "-o", "sgd", "--lr", "0.5", "--val-fraction", "0", "--steps", "8"],
        ["manual", *base, "-o", "lbfgs", "--steps", "3"],
        ["optim", *base, "-o", "lbfgs", "--steps", "3"],
        ["manual", *base, "-o", "muon", "--epochs", "1", "--dtype", "float64"],
    ]
    outputs = check(invoke, tmp_path, runs)
    assert len(outputs) == len(runs)
    assert [line["val_loss"] for line in jsonl(outputs[1]) if "epoch_end" in line] == [None]


@pytest.mark.parametrize("model", ["linear", "mlp", "cnn"])
def test_an_architecture_is_written_as_the_network_gradcli_builds(model):
    """The lines a script writes build the network ``gradcli/data/models.py`` builds: the
    same layers under the same names (the parameters' names in the JSON lines)."""
    from collections import OrderedDict

    from torch import nn

    from gradcli.data import Request, load
    from gradcli.data.models import architecture as build
    from gradcli.script.data import architecture

    built = build(model, load(Request("digits")))
    namespace = {"nn": nn, "OrderedDict": OrderedDict}
    exec("\n".join(architecture(built)), namespace)
    written = namespace["model"]
    assert repr(written) == repr(built)
    shapes = [(name, p.shape) for name, p in written.named_parameters()]
    assert shapes == [(name, p.shape) for name, p in built.named_parameters()]


NETWORK_FILE = '''
import torch
from torch import nn


class Net(nn.Module):
    """Dropout (random: the same draws, or not the run) and a parameter no loss uses."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2))
        self.head = nn.Linear(32, 10)
        self.unused = nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def build() -> nn.Module:
    return Net()
'''


@pytest.mark.slow
def test_a_users_network_on_data_is_the_same_run(invoke, tmp_path, monkeypatch):
    """``--model file.py:factory`` with ``--data``: imported as gradcli imports it, tried on
    two samples before training as gradcli tries it (dropout draws there too), a parameter
    without a gradient skipped; LBFGS's closure evaluates the batch again."""
    (tmp_path / "net.py").write_text(NETWORK_FILE)
    monkeypatch.chdir(tmp_path)
    base = ["--data", "digits", "-m", "net.py:build"]
    runs = [
        ["optim", *base, "-o", "adam", "--batch-size", "64", "--epochs", "2"],
        [
            "manual",
            *base,
            "-o",
            "SGD(momentum=0.9)",
            "--lr",
            "0.1",
            "--batch-size",
            "100",
            "--epochs",
            "1",
        ],
        ["manual", *base, "-o", "lbfgs", "--batch-size", "500", "--steps", "3"],
    ]
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    outputs = check(invoke, scripts, runs)
    assert len(outputs) == len(runs)


def _write_table(path: Path, header: list[str], rows: list[list[object]]) -> str:
    delimiter = "\t" if ".tsv" in path.name else ","
    text = "\n".join(delimiter.join(map(str, row)) for row in [header, *rows]) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text.replace("\n", "\n\n", 1))  # (a blank line, skipped)
    return path.name


def _idx(array: torch.Tensor) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000080N, each dimension, the bytes."""
    dims = b"".join(d.to_bytes(4, "big") for d in array.shape)
    return (0x800 | array.dim()).to_bytes(4, "big") + dims + array.to(torch.uint8).numpy().tobytes()


@pytest.mark.slow
def test_tables_and_idx_files_are_the_same_run(invoke, tmp_path, monkeypatch):
    """A CSV whose target is words, a gzipped TSV with a regression target, integer classes
    with --loss mse: read with the csv module, the columns standardised on the training
    rows; MNIST's and Fashion-MNIST's IDX files (raw and gzipped) from --data-dir, the test
    split held out or --val-fraction drawn from the training files."""
    monkeypatch.chdir(tmp_path)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(120, 3, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 10, 0.1])
    names = ["setosa", "versicolor", "virginica"]
    words = [names[int(a > 0) + int(b > 0)] for a, b, _ in x.tolist()]
    price = (x @ torch.tensor([1.0, -0.2, 3.0], dtype=torch.float64)).tolist()
    iris = _write_table(
        tmp_path / "iris.csv", ["a", "species", "b", "c"],
        [[a, w, b, c] for (a, b, c), w in zip(x.tolist(), words, strict=True)],
    )  # fmt: skip
    prices = _write_table(
        tmp_path / "prices.tsv.gz", ["a", "b", "c", "price"],
        [[*r, p] for r, p in zip(x.tolist(), price, strict=True)],
    )  # fmt: skip
    counts = _write_table(
        tmp_path / "counts.csv", ["k", "a", "b", "c"],
        [[1 + 2 * int(r[0] > 0), *r] for r in x.tolist()],
    )  # fmt: skip
    folder = tmp_path / "mn"
    folder.mkdir()
    images = torch.randint(0, 256, (150, 28, 28), generator=gen)
    labels = torch.randint(0, 10, (150,), generator=gen)
    arrays = [images[:100], labels[:100], images[100:], labels[100:]]
    for i, (file, array) in enumerate(zip(idx.FILES, arrays, strict=True)):
        raw = _idx(array)
        (folder / (file + ".gz" * (i % 2))).write_bytes(gzip.compress(raw) if i % 2 else raw)
    mnist = ["--data-dir", "mn", "--batch-size", "32", "--epochs", "1"]
    runs = [
        ["optim", "--data", iris, "--target", "species", "-m", "mlp", "-o", "adam",
         "--batch-size", "32", "--epochs", "2"],
        ["manual", "--data", prices, "--target", "price", "-m", "linear", "-o", "sgd",
         "--lr", "0.01", "--batch-size", "25", "--epochs", "2", "--every", "3"],
        ["optim", "--data", counts, "--target", "k", "-m", "linear", "-o", "sgd", "--lr", "0.1",
         "--batch-size", "50", "--epochs", "1", "--loss", "mse", "--no-shuffle"],
        ["manual", "--data", "mnist", "-m", "cnn", "-o", "adam", *mnist],
        ["optim", "--data", "fashion-mnist", "-m", "mlp", "-o", "adam", *mnist,
         "--val-fraction", "0.25"],
    ]  # fmt: skip
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    outputs = check(invoke, scripts, runs)
    assert len(outputs) == len(runs)
    ends = [[line for line in jsonl(output) if "epoch_end" in line] for output in outputs]
    assert all(ends)
    assert ends[1][0]["train_accuracy"] is None and ends[1][0]["val_loss"] is not None


def run_both(invoke, folder: Path, args: list[str], status: int):
    """gradcli's run (-f jsonl) and its script's, run on its own in a process: both end with
    ``status``, the script passes ruff, and its stdout is gradcli's, byte for byte."""
    gradcli = invoke(*args, "-f", "jsonl", "-q")
    assert gradcli.exit_code == status, gradcli.stderr
    script = folder / "s.py"
    script.write_text(invoke(*args, "--print-script").stdout)
    lint([script])
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert ran.returncode == status, ran.stderr
    assert ran.stdout == gradcli.stdout
    return gradcli, ran


@pytest.mark.parametrize(
    "args",
    [
        ["optim", "-m", "linear", "-o", "sgd", "--lr", "1e6", "--steps", "8"],
        [
            "manual",
            "-m",
            "himmelblau",
            "-o",
            "radam",
            "--lr",
            "0.5",
            "--steps",
            "9",
            "--every",
            "4",
        ],
        ["manual", "-m", "linear", "-o", "sgd", "--lr", "1e6", "--steps", "8", "--explain"],
        [
            "optim",
            "-m",
            "linear",
            "-o",
            "adam",
            "--lr",
            "1e6",
            "--steps",
            "8",
            "--amp",
            "fp16",
            "--clip-norm",
            "1",
        ],
    ],
)
def test_a_run_that_diverges_stops_as_gradcli_does(invoke, tmp_path, args):
    """gradcli shows the step where the loss or a gradient stops being finite (--every or
    not), writes its infinities and NaNs as JSON strings, stops there and exits 3: so does
    the script, its stdout the same bytes."""
    gradcli, ran = run_both(invoke, tmp_path, args, 3)
    assert '"Infinity"' in gradcli.stdout or '"NaN"' in gradcli.stdout
    assert ran.stderr.count("\n") == 1 and "not finite" in ran.stderr, ran.stderr


CHATTY_MODEL = """
import torch
from torch import nn


class Chatty(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))

    def forward(self) -> torch.Tensor:
        print("forward called")
        return (self.w**2).sum()


class ChattyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("batch of", x.shape[0])
        return self.lin(x.flatten(1))


def build() -> nn.Module:
    return Chatty()


def build_net() -> nn.Module:
    return ChattyNet()
"""


@pytest.mark.parametrize(
    "args",
    [
        ["optim", "-m", "{file}:build", "-o", "adam", "--steps", "3"],
        ["manual", "-m", "{file}:build", "-o", "lbfgs", "--steps", "2"],
        ["optim", "-d", "digits", "-m", "{file}:build_net", "--batch-size", "600", "--epochs", "1"],
    ],
)
def test_what_a_users_model_prints_goes_to_stderr_as_in_gradcli(invoke, tmp_path, args):
    """gradcli keeps stdout for its JSON lines and sends the user's print() to stderr: the
    script too, so that its stdout is still gradcli's, byte for byte."""
    (tmp_path / "chatty.py").write_text(CHATTY_MODEL)
    args = [a.format(file=tmp_path / "chatty.py") for a in args]
    _, ran = run_both(invoke, tmp_path, args, 0)
    assert ("forward called" in ran.stderr) or ("batch of" in ran.stderr)


def test_the_command_a_script_quotes_is_the_same_run(invoke, tmp_path, monkeypatch):
    """The docstring's command line, run as the shell would split it, prints the same lines
    as the run it was written for: --explain named, a file name with a space quoted."""
    monkeypatch.chdir(tmp_path)
    table = _write_table(
        tmp_path / "my data.csv", ["a", "b", "y"],
        [[i % 7 / 7, i % 5 / 5, (i * 37) % 11 / 11] for i in range(40)],
    )  # fmt: skip
    runs = [
        ["manual", "-m", "mlp", "-o", "adam", "--steps", "2", "--explain", "--clip-norm", "1"],
        ["optim", "--data", table, "--target", "y", "-m", "linear", "-o", "sgd",
         "--batch-size", "16", "--epochs", "1", "--explain", "--state"],
    ]  # fmt: skip
    for args in runs:
        script = invoke(*args, "--print-script").stdout
        lines = script.splitlines()
        quoted = " ".join(lines[2 : lines.index("", 2)])  # (long ones wrap, indented)
        assert quoted.startswith("    gradcli ") and "--explain" in quoted
        words = shlex.split(quoted)[1:]
        assert invoke(*words, "-f", "jsonl").stdout == invoke(*args, "-f", "jsonl").stdout
