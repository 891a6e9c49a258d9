"""``gradcli compare --print-script``: the script, run on its own, prints compare's JSON lines
byte for byte (problems, optimizers on both paths, schedules, clipping, a user's model, a
run that diverges, --accumulate, --amp bf16 and fp16 with its gradient scaler, runs on
--data with their ends of epochs), passes ruff, imports nothing of gradcli, and ``gradcli
diff`` of the two exits 0; what it cannot repeat is refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gradcli.optimizers import catalog
from gradcli.problems import BUILTINS
from gradcli.script.compare import _fitted
from gradcli.script.literals import LINE_LENGTH
from gradcli.spec import SPARSE_MODELS, constructor, runs_on
from tests.helpers import jsonl
from tests.strategies import run_specs
from tests.test_script import CHATTY_MODEL, MODEL_FILE, NETWORK_FILE, lint, run_both

# Run each script with runpy in one process (one `import torch` for all): its stdout, and
# its exit status (3 where a loss stops being finite).
_RUNNER = """
import contextlib, io, json, runpy, sys
import torch
torch.set_num_threads(1)  # as gradcli runs a small model
out = {}
for path in sys.argv[1:]:
    buffer, status = io.StringIO(), 0
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as exit:
            status = exit.code
    out[path] = [buffer.getvalue(), status]
print(json.dumps(out))
"""


def check(invoke, folder: Path, runs: list[list[str]]) -> None:
    """Each run's script prints what ``gradcli compare -f jsonl`` prints, byte for byte, and
    ends as it ends (3: diverged); the scripts pass ruff and ``gradcli diff`` agrees."""
    paths, expected = [], []
    for args in runs:
        ran = invoke("compare", *args, "-f", "jsonl")
        assert ran.exit_code in (0, 3), (args, ran.stderr)
        printed = invoke("compare", *args, "--print-script")
        assert printed.exit_code == 0, (args, printed.stderr)
        imports = [
            line for line in printed.stdout.splitlines() if line.startswith(("import", "from"))
        ]
        assert not any("gradcli" in line for line in imports)
        path = folder / f"compare_{len(paths)}.py"
        path.write_text(printed.stdout)
        paths.append(path)
        expected.append((ran.stdout, ran.exit_code))
    lint(paths)
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    outputs = json.loads(done.stdout)
    for args, path, (gradcli_output, status) in zip(runs, paths, expected, strict=True):
        assert outputs[str(path)] == [gradcli_output, status], args
        mine = path.with_suffix(".jsonl")
        mine.write_text(outputs[str(path)][0])
        theirs = path.with_suffix(".gradcli.jsonl")
        theirs.write_text(gradcli_output)
        assert invoke("diff", str(mine), str(theirs)).exit_code == 0, args


def test_the_default_methods_are_one_script(invoke, tmp_path):
    """compare's five classics side by side: adagrad's, adam's and rmsprop's helpers of one
    name (``_start``) each keep their own, renamed."""
    check(invoke, tmp_path, [["-m", "linear", "--steps", "3"]])
    script = (tmp_path / "compare_0.py").read_text()
    assert "def _adam_start(" in script and "def _rmsprop_start(" in script


@pytest.mark.slow
def test_problems_optimizers_schedules_and_clipping_are_the_same_run(invoke, tmp_path):
    schedule = (
        "SequentialLR(schedulers=[LinearLR(start_factor=0.5, total_iters=3), "
        "ExponentialLR(gamma=0.9)], milestones=[3])"
    )
    runs = [
        # the example, beside adam
        ["-m", "rosenbrock", "-o", "rmsprop,adam", "--schedule", "StepLR(step_size=10, gamma=0.5)",
         "--clip-norm", "1", "--steps", "30"],
        ["-m", "mlp", "-o", "adam", "-o", "SGD(lr=0.1, momentum=0.9)", "-o",
         "SGD(lr=0.1, momentum=0.9, nesterov=True)", "--clip-value", "0.5", "--steps", "6"],
        ["-m", "mlp", "-o", "lbfgs,sgd", "--clip-norm", "1", "--steps", "3", "--seed", "3"],
        ["-m", "mlp", "-o", "muon,adamw", "--steps", "4"],
        ["-m", "mlp", "-o", "sgd,adam", "--schedule", schedule, "--steps", "6"],
        ["-m", "mlp", "-o", "SGD(momentum=0.9),adam", "--schedule",
         "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=3)", "--steps", "6"],
        ["-m", "linear", "-o", "sgd,rmsprop", "--schedule", "ReduceLROnPlateau(patience=1)",
         "--steps", "8", "--dtype", "float64"],
        ["-m", "himmelblau", "-o", "all", "--steps", "3", "--seed", "2"],
        ["-m", "embedding", "-o", "all", "--steps", "3"],
        ["-m", "mlp", "-o", "adam", "--impl", "fused", "--steps", "3"],
        ["-m", "beale", "-o", "sgd,adam", "--lr", "0.5", "--steps", "20"],  # diverges: exit 3
    ]  # fmt: skip
    check(invoke, tmp_path, runs)


@st.composite
def comparisons(draw) -> list[str]:
    """compare's options for every optimizer that takes a problem's gradients, each with
    drawn settings and lr, on a drawn problem, dtype and seed."""
    model = draw(st.sampled_from(sorted(set(BUILTINS) - set(SPARSE_MODELS))))
    chosen = []
    for optimizer in catalog().values():
        if runs_on(optimizer, model):
            run = draw(run_specs([optimizer.name], models=[model], steps=3))
            chosen += ["-o", constructor(run.optimizer, run.lr, run.settings)]
    dtype = draw(st.sampled_from(["float32", "float64"]))
    seed = draw(st.integers(0, 2**31))
    return ["-m", model, *chosen, "--dtype", dtype, "--seed", str(seed), "--steps", "3"]


# No shrinking: an example is one script of every optimizer (its arguments are printed)
NO_SHRINKING = (Phase.explicit, Phase.reuse, Phase.generate)


@pytest.mark.slow
@settings(max_examples=3, deadline=None, phases=NO_SHRINKING, suppress_health_check=[*HealthCheck])
@given(args=comparisons())
def test_every_optimizer_with_any_settings_is_the_same_run(invoke, tmp_path_factory, args):
    print(args)
    check(invoke, tmp_path_factory.mktemp("compare"), [args])


@pytest.mark.slow
def test_a_users_model_draws_the_same_random_numbers(invoke, tmp_path):
    (tmp_path / "mymodel.py").write_text(MODEL_FILE)
    model = str(tmp_path / "mymodel.py") + ":build"
    check(invoke, tmp_path, [["-m", model, "-o", "sgd,adam,lbfgs", "--steps", "3"]])


def test_muon_s_two_optimizers_with_a_schedule(invoke, tmp_path):
    """Muon and AdamW each with its scheduler (torch's, and the rule by hand), beside Adam."""
    schedule = ["--schedule", "OneCycleLR(max_lr=0.1, total_steps=10)"]
    check(invoke, tmp_path, [["-m", "mlp", "-o", "muon,adam", *schedule, "--steps", "4"]])


# a loss scale so large that the scaled gradients overflow float16: every step is skipped
HUGE = ["--loss-scale", "1e38"]


def test_micro_batches_and_mixed_precision_are_the_same_comparison(invoke, tmp_path):
    """--accumulate with --amp fp16: each path's K micro-batches, the forward under
    autocast, the gradient scaler (torch's GradScaler and gradcli's HandScaler by hand);
    every step skipped at a huge scale, and "scale" and "skipped" torch.optim's as
    compare's. And --amp bf16."""
    fp16 = ["-m", "linear", "-o", "sgd,adam", "--steps", "2", "--accumulate", "2", "--amp", "fp16"]
    bf16 = ["-m", "mlp", "-o", "SGD(momentum=0.9),adamw", "--steps", "2", "--amp", "bf16"]
    check(invoke, tmp_path, [[*fp16, *HUGE], bf16])
    lines = jsonl((tmp_path / "compare_0.jsonl").read_text())[2:]
    assert [(line["skipped"], line["bit_identical"]) for line in lines] == [(True, True)] * 4
    assert lines[2]["scale"] == lines[0]["scale"] / 2
    script = (tmp_path / "compare_0.py").read_text()
    assert "class HandScaler" in script and "torch.amp.GradScaler(" in script
    assert "micro_losses" not in script  # (compare's records show no micro-batch)


@st.composite
def scaled_comparisons(draw) -> list[str]:
    """compare's options for one to three optimizers, each with drawn settings and lr, with
    --accumulate K (1, 2 or 4 micro-batches) and --amp (none, bf16, or fp16 with a drawn
    loss scale and growth interval: a huge scale skips steps), on a problem that holds its
    data, from a drawn seed."""
    model = draw(st.sampled_from(["linear", "mlp"]))
    accumulate = draw(st.sampled_from([1, 2, 4]))
    amp = draw(st.sampled_from([None, "bf16", "fp16"]))
    # (an optimizer that evaluates the loss itself takes neither micro-batches nor a scaler)
    closure = accumulate == 1 and amp != "fp16"
    names = [o.name for o in catalog().values() if runs_on(o, model) and (closure or not o.closure)]
    args = ["-m", model]
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        run = draw(run_specs([name], models=[model], steps=3))
        args += ["-o", constructor(run.optimizer, run.lr, run.settings)]
    args += ["--accumulate", str(accumulate), *(["--amp", amp] if amp else [])]
    if amp == "fp16":
        args += ["--loss-scale", draw(st.sampled_from(["1", "65536", "1e38"]))]
        args += ["--growth-interval", str(draw(st.integers(1, 3)))]
    return [*args, "--seed", str(draw(st.integers(0, 2**31))), "--steps", "3"]


@pytest.mark.slow
@settings(max_examples=4, deadline=None, phases=NO_SHRINKING, suppress_health_check=[*HealthCheck])
@given(args=scaled_comparisons())
def test_methods_micro_batches_and_mixed_precision_are_the_same_run(invoke, tmp_path_factory, args):
    print(args)
    check(invoke, tmp_path_factory.mktemp("compare"), [args])


# digits in batches of 256 (6 of them an epoch), 450 samples held out
DIGITS = ["-d", "digits", "-m", "mlp", "--batch-size", "256", "--val-fraction", "0.25"]


def test_on_data_the_ends_of_epochs_come_after_every_method_s_last_step(invoke, tmp_path):
    """--data: each path's own DataLoader, the loop over epochs and their batches, and at
    the end of each epoch one line per method, torch.optim's, once every method has done
    the epoch's last step."""
    args = ["-d", "digits", "-m", "linear", "-o", "sgd,adam", "--batch-size", "600"]
    check(invoke, tmp_path, [[*args, "--epochs", "2"]])
    lines = jsonl((tmp_path / "compare_0.jsonl").read_text())
    ends = [(line["epoch_end"], line["label"]) for line in lines if "epoch_end" in line]
    assert ends == [(1, "sgd"), (1, "adam"), (2, "sgd"), (2, "adam")]
    assert [line.get("epoch_end") for line in lines[6:10]] == [None, None, 1, 1]
    script = (tmp_path / "compare_0.py").read_text()
    assert script.count("loader = DataLoader(") == 4  # (each path of each method its own)


@pytest.mark.slow
def test_on_data_with_micro_batches_mixed_precision_and_the_rest(invoke, tmp_path):
    """--data with --accumulate (K of the loader's batches an update), --amp fp16 (skipped
    steps, then not) and bf16, clipping, a schedule stepped once an epoch (ReduceLROnPlateau
    fed the held-out loss), --loss mse, no held-out data, a run that ends inside an epoch,
    LBFGS's closure on the batch, Muon beside AdamW, and one that diverges (exit 3)."""
    plateau = ["--schedule", "ReduceLROnPlateau(patience=0)", "--schedule-per", "epoch"]
    runs = [
        [*DIGITS, "-o", "sgd,adam", "--accumulate", "2", "--amp", "fp16", "--loss-scale", "1e6",
         "--growth-interval", "2", "--clip-norm", "1", "--epochs", "2"],
        [*DIGITS, "-o", "SGD(momentum=0.9),rmsprop", *plateau, "--epochs", "3"],
        [*DIGITS, "-o", "lbfgs,muon", "--amp", "bf16", "--steps", "8"],
        [*DIGITS, "-o", "adam", "--loss", "mse", "--val-fraction", "0", "--accumulate", "4",
         "--steps", "3", "--no-shuffle"],
        [*DIGITS, "-o", "sgd", "--lr", "1e6", "--epochs", "2"],  # diverges: exit 3
    ]  # fmt: skip
    check(invoke, tmp_path, runs)


@pytest.mark.slow
def test_a_users_network_on_data_draws_the_same_random_numbers(invoke, tmp_path, monkeypatch):
    """--model file.py:factory on --data: tried on two samples before training, on each
    path's model (dropout draws there too), in the order gradcli builds them."""
    (tmp_path / "net.py").write_text(NETWORK_FILE)
    monkeypatch.chdir(tmp_path)
    args = ["-d", "digits", "-m", "net.py:build", "-o", "adam,sgd", "--batch-size", "360"]
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    check(invoke, scripts, [[*args, "--epochs", "2", "--accumulate", "2", "--amp", "bf16"]])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-f", "table"], "prints JSON lines, not --format table"),
        (["-o", "adam", "--impl", "foreach"], "add --impl forloop"),
    ],
)
def test_what_a_compare_script_cannot_repeat_is_one_line_and_exit_2(invoke, args, says):
    result = invoke("compare", *args, "--print-script")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("line", "laid"),
    [
        ("x = f(a, b)", ["x = f(a, b)"]),
        (
            "    scheduler = torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=0.01, "
            "max_lr=0.1, step_size_up=3)",
            [
                "    scheduler = torch.optim.lr_scheduler.CyclicLR(",
                "        optimizer, base_lr=0.01, max_lr=0.1, step_size_up=3",
                "    )",
            ],
        ),
        (
            "def _rmsprop_start(param: Tensor, state: dict[str, Tensor], momentum: float, "
            "centered: bool) -> None:",
            [
                "def _rmsprop_start(",
                "    param: Tensor, state: dict[str, Tensor], momentum: float, centered: bool",
                ") -> None:",
            ],
        ),
    ],
)
def test_a_line_too_long_is_laid_out_as_ruff_format_lays_it_out(line, laid):
    assert _fitted(line) == laid
    assert all(len(text) <= LINE_LENGTH for text in laid)


def test_what_a_users_model_prints_goes_to_stderr_in_a_comparison(invoke, tmp_path):
    """gradcli compare sends the user's print() to stderr: the script too, its stdout still
    compare's JSON lines, byte for byte."""
    (tmp_path / "chatty.py").write_text(CHATTY_MODEL)
    model = f"{tmp_path / 'chatty.py'}:build"
    _, ran = run_both(
        invoke, tmp_path, ["compare", "-m", model, "-o", "sgd,adam", "--steps", "2"], 0
    )
    assert "forward called" in ran.stderr
