"""What the training commands print: the table at a fixed width, and JSON lines."""

from __future__ import annotations

import inspect
import math
import re

import pytest
from helpers import jsonl
from lanes import fast_cases

SEED_TABLE = """\
gradcli manual · model seed · sgd lr=0.001 · cpu float32 · 2 steps
step 0/2

  parameter   shape   value       grad   update
 ───────────────────────────────────────────────
  w           3       [1, 2, 3]   —      —

initial parameters, before any update

step 1/2   loss 2

  parameter   shape   value                     grad                      update
 ──────────────────────────────────────────────────────────────────────────────────────────────────
  w           3       [0.999667, 1.99967,       [0.333333, 0.333333,      [-0.000333309,
                      2.99967]                  0.333333]                 -0.000333309,
                                                                          -0.000333309]

loss, grad: before this step's update · value: after it · update = after − before

step 2/2   loss 1.99967

  parameter   shape   value                     grad                      update
 ──────────────────────────────────────────────────────────────────────────────────────────────────
  w           3       [0.999333, 1.99933,       [0.333333, 0.333333,      [-0.000333309,
                      2.99933]                  0.333333]                 -0.000333309,
                                                                          -0.000333309]

summary

  steps           2
  loss at start   2
  loss at end     1.99933

"""


def stripped(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def test_seed_table_at_width_100(invoke):
    result = invoke("manual", "--model", "seed", "--steps", "2", "--format", "table")
    assert result.exit_code == 0
    assert stripped(result.stdout) == SEED_TABLE
    assert result.stderr == ""


@pytest.mark.slow
def test_a_table_shows_about_ten_steps_and_one_legend(invoke):
    """The quick start on a terminal: 100 steps are 11 tables (every 10th, step 0 and the
    last), the columns explained once, the summary last; --every 1 still shows them all."""
    result = invoke("optim", "--steps", "100", "-f", "table")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    titles = [line.split()[1] for line in lines if line.startswith("step ")]
    assert titles == [f"{n}/100" for n in range(0, 101, 10)]
    assert sum("loss, grad: before this step's update" in line for line in lines) == 1
    assert lines.index("summary") > max(i for i, x in enumerate(lines) if x.startswith("step "))
    assert len(lines) < 200  # the same run printed 1,223 lines at 80 columns
    every = invoke("optim", "--steps", "100", "-f", "table", "--every", "1").stdout
    assert sum(line.startswith("step ") for line in every.splitlines()) == 101
    odd = invoke("optim", "--steps", "37", "-f", "table").stdout  # every 4th, and step 37
    assert [x.split()[1] for x in odd.splitlines() if x.startswith("step ")][-2:] == [
        "36/37",
        "37/37",
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_machine_formats_keep_every_step(invoke, fmt):
    result = invoke("optim", "--steps", "100", "-f", fmt)
    rows = result.stdout.splitlines()
    assert len(rows) == (101 if fmt == "jsonl" else 1 + 101 * 2)  # csv: a header, 2 params


def test_table_shows_statistics_for_large_tensors_and_a_reference(invoke):
    result = invoke("optim", "--model", "mlp", "--steps", "4", "--every", "4", "-f", "table")
    assert result.exit_code == 0
    out = result.stdout
    assert "step 0/4" in out and "step 4/4" in out and "step 2/4" not in out
    assert "net.2.weight   16×16" in out  # 256 elements: statistics, not values
    assert "norm " in out and "mean " in out and "min " in out and "max " in out
    assert "accuracy" in out
    linear = invoke("optim", "--model", "linear", "--steps", "5", "-f", "table").stdout
    assert "least squares" in linear and "max |diff|" in linear


def test_auto_format_is_jsonl_when_not_a_terminal(invoke):
    result = invoke("optim", "--model", "seed", "--steps", "1")
    assert [r["step"] for r in jsonl(result.stdout)] == [0, 1]


@pytest.mark.parametrize("command", ["manual", "optim"])
def test_jsonl_schema(invoke, command):
    result = invoke(command, "--model", "mlp", "--steps", "10", "--every", "4", "-f", "jsonl")
    assert result.exit_code == 0
    records = jsonl(result.stdout)
    assert [r["step"] for r in records] == [0, 4, 8, 10]
    assert records[0]["loss"] is None
    for record in records:
        assert set(record) == {"step", "loss", "lr", "params"}
        assert list(record) == ["step", "loss", "lr", "params"]
        assert list(record["params"]) == [
            "net.0.weight",
            "net.0.bias",
            "net.2.weight",
            "net.2.bias",
            "net.4.weight",
            "net.4.bias",
        ]
        for name, p in record["params"].items():
            assert set(p) == {"shape", "value", "grad", "update"}
            numel = math.prod(p["shape"])
            fields = ["value"] if record["step"] == 0 else ["value", "grad", "update"]
            for field in fields:
                if numel <= 8:
                    assert isinstance(p[field], list) and len(p[field]) == numel, name
                else:
                    assert set(p[field]) == {"norm", "mean", "min", "max"}, name
            if record["step"] == 0:
                assert p["grad"] is None and p["update"] is None
    assert all(isinstance(r["loss"], float) for r in records[1:])
    assert result.stderr.startswith("gradcli: 10 steps, loss ")


def test_jsonl_numbers_are_full_precision_and_updates_add_up(invoke):
    records = jsonl(invoke("manual", "--model", "seed", "--steps", "3", "-f", "jsonl").stdout)
    import torch

    third = torch.tensor(1 / 3, dtype=torch.float32).item()  # 1/3 rounded to float32
    value = records[0]["params"]["w"]["value"]
    assert value == [1.0, 2.0, 3.0]
    for record in records[1:]:
        p = record["params"]["w"]
        assert p["grad"] == [third] * 3
        assert [v - u for v, u in zip(p["value"], p["update"], strict=True)] == value
        # the applied update is what float32 made of -lr·g, not the exact -0.001/3
        assert p["update"][0] != -0.001 * third
        value = p["value"]
    assert records[1]["loss"] == 2.0


def test_manual_and_optim_print_identical_records(invoke):
    args = ["--model", "linear", "--steps", "30", "--momentum", "0.9", "-f", "jsonl"]
    manual = invoke("manual", *args)
    optim = invoke("optim", *args)
    assert manual.exit_code == optim.exit_code == 0
    assert manual.stdout == optim.stdout


def test_same_arguments_give_byte_identical_output(invoke):
    args = ["optim", "--model", "mlp", "--steps", "20", "-f", "jsonl", "--seed", "7"]
    first, second = invoke(*args), invoke(*args)
    assert first.stdout == second.stdout
    other = invoke("optim", "--model", "mlp", "--steps", "20", "-f", "jsonl", "--seed", "8")
    assert jsonl(other.stdout)[0] != jsonl(first.stdout)[0]


def test_zero_steps_prints_the_initial_parameters(invoke):
    result = invoke("optim", "--model", "rosenbrock", "--steps", "0", "-f", "jsonl")
    assert result.exit_code == 0
    assert jsonl(result.stdout) == [
        {
            "step": 0,
            "loss": None,
            "lr": None,
            "params": {"xy": {"shape": [2], "value": [-2.0, 2.0], "grad": None, "update": None}},
        }
    ]
    # (√10: from (−2, 2) to the minimum (1, 1))
    assert result.stderr == (
        "gradcli: 0 steps, ends 3.16 from the nearest minimum, loss 409 -> 409\n"
    )


def test_float64_runs_in_float64(invoke):
    records = jsonl(
        invoke(
            "manual", "--model", "seed", "--steps", "1", "--dtype", "float64", "-f", "jsonl"
        ).stdout
    )
    assert records[1]["params"]["w"]["grad"] == [1 / 3] * 3


@pytest.mark.slow
@pytest.mark.parametrize("command", ["optim", "manual", "compare"])
def test_help_ends_with_examples(invoke, command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    lines = [line.strip() for line in result.stdout.strip().splitlines() if line.strip()]
    examples = lines[len(lines) - 1 - lines[::-1].index("Examples") + 1 :]
    assert len(examples) >= 4
    assert all(line.startswith(f"gradcli {command}") for line in examples)  # (none wraps)


COMMANDS = ["optim", "manual", "compare", "optimizers", "params", "graph", "pitfalls", "ddp"]


@pytest.mark.slow
@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=lambda c: " ".join(c))
def test_dash_h_is_help_everywhere(invoke, command):
    long, short = invoke(*command, "--help"), invoke(*command, "-h")
    assert short.exit_code == 0 and short.stderr == ""
    assert short.stdout == long.stdout
    assert "Usage: gradcli" in short.stdout


def test_version_names_gradcli_torch_python_and_cuda(invoke):
    import platform

    import torch

    import gradcli

    result = invoke("--version")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.splitlines() == [
        f"gradcli {gradcli.__version__}",
        f"torch {torch.__version__}, CUDA not available"
        + (
            " (a CPU-only build)"
            if torch.version.cuda is None
            else f" (built for CUDA {torch.version.cuda}; no GPU found)"
        ),
        f"Python {platform.python_version()} ({platform.python_implementation()})",
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        [],
        *([c] for c in ["optim", "manual", "compare", "params", "graph", "ddp", "pitfalls"]),
        ["optimizers"],
        ["schedule"],
    ],
)
def test_help_names_values_like_argparse(invoke, command):
    """A value option shows a placeholder (its own metavar, else its name in capitals); a
    flag shows none — no Typer type labels like <str> or <bool>."""
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "<str>" not in result.stdout and "<bool>" not in result.stdout
    rows = {
        line.split()[1]: line.split()[2:]
        for line in result.stdout.splitlines()
        if line.startswith("│ --")
    }
    assert rows["--help"][:2] == ["-h", "Show"]
    if command in (["optim"], ["manual"], ["compare"], ["ddp"]):
        assert rows["--device"][0] == "DEVICE"
        assert rows["--steps"][0] == "INT"
        # the hyperparameters, listed as typed: Muon's nesterov is on by default
        assert "--nesterov/--no-nesterov" in result.stdout
        assert "--momentum=FLOAT" in result.stdout and "--amsgrad " in result.stdout
    if command:
        assert rows["--format"][:2] == ["-f", "FORMAT"]
    if command == ["ddp"]:
        assert rows["--path"][0] == "manual|ddp"  # choices, not a file's path


def _explained(invoke, *args: str) -> list[str]:
    result = invoke("manual", *args, "--explain", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    return jsonl(result.stdout)[-1]["explain"]


def test_explain_shows_the_digits_that_tell_before_from_after(invoke):
    """Six decimals would print 1.000000 before and after a tiny update; the line gets the
    digits it needs to tell the two apart."""
    assert _explained(invoke, "-m", "seed", "--lr", "1e-6", "--steps", "1") == [
        "w[0]: θ − lr·g = 1.0000000 − 1e-06 × 0.3333333 = 0.9999996"
    ]
    # an update that rounds away in float32 (README: step 100 of linear) stays at six
    assert _explained(invoke, "-m", "seed", "--steps", "1") == [
        "w[0]: θ − lr·g = 1.000000 − 0.001 × 0.333333 = 0.999667"
    ]


def test_explain_puts_negative_operands_in_parentheses(invoke):
    assert _explained(invoke, "-m", "rosenbrock", "--steps", "1") == [
        "xy[0]: θ − lr·g = (-2.000000) − 0.001 × (-1606.000000) = -0.394000"
    ]
    adam = _explained(invoke, "-m", "rosenbrock", "-o", "adam", "--steps", "1")[0]
    assert "0.001 × (-1606.000000)² = " in adam  # the square of the negative number


def test_num_and_the_digits_of_a_line():
    from gradcli.optimizers.formula import _digits_apart, num

    assert num(-8.345218) == "(-8.345218)" and num(8.345218) == "8.345218"
    assert num(-2.5e-7) == "(-2.5e-07)" and num(0.0) == "0.000000"
    assert _digits_apart(1.0, 1.0) == 6
    assert _digits_apart(1.0, 0.9999996423721313) == 7
    assert _digits_apart(1.0, 1.0 + 2**-52) == 16  # one float64 ULP apart


def test_a_long_formula_wraps_under_its_own_indentation(invoke):
    result = invoke(
        "manual",
        "-m",
        "linear",
        "-o",
        "adam",
        "--steps",
        "1",
        "--explain",
        "-f",
        "table",
        COLUMNS="60",
    )
    lines = result.stdout.splitlines()
    start = lines.index("linear.weight[0]")
    formula = lines[start + 1 : lines.index("linear.bias[0]")]
    assert len(formula) > 3  # three formulas, wrapped at 60 columns
    assert all(line.startswith("  ") and line[2] != " " for line in formula)


NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")
NARROW_RUNS = [
    ["optim", "-m", "mlp", "-o", "adam", "--steps", "2", "--state"],  # statistics, state
    ["manual", "-m", "linear", "--steps", "3"],  # lists, the least-squares table
    ["compare", "--steps", "20", "--tol", "1"],  # compare's widest table
]


@pytest.mark.slow
@pytest.mark.parametrize("args", NARROW_RUNS, ids=lambda a: " ".join(a[:3]))
def test_narrow_terminals_wrap_or_stack_and_never_cut_a_number(invoke, args):
    """At 60 and 80 columns every number of the 200-column table is still there, whole
    (wrapped, or each row stacked as header: value lines), and no column is dropped."""
    wide = invoke(*args, "-f", "table", COLUMNS="200").stdout
    assert max(map(len, wide.splitlines())) <= 200
    for width in (60, 80):
        narrow = invoke(*args, "-f", "table", COLUMNS=str(width)).stdout
        assert "…" not in narrow
        assert max(map(len, narrow.splitlines())) <= width
        assert sorted(NUMBER.findall(narrow)) == sorted(NUMBER.findall(wide)), width
        if args[0] == "compare":
            words = " ".join(narrow.split())
            assert all(w in words for w in ("ULPs", "tol", "|manual", "optim|", "final"))


@pytest.mark.slow
def test_show_code_prints_the_loop_each_path_runs(invoke):
    """--show-code: optim's four torch.optim lines; manual's loop (the update under
    torch.no_grad(), p.grad = None) and the source of the rule it calls, which is the
    function the run uses."""
    from gradcli.optimizers import sgd

    optim = invoke("optim", "--steps", "1", "--show-code", "-f", "table").stdout
    head = optim[: optim.index("step 0/1")]
    assert "optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0" in head
    order = ["optimizer.zero_grad()", "loss = model()", "loss.backward()", "optimizer.step()"]
    assert [head.index(line) for line in order] == sorted(head.index(line) for line in order)
    manual = invoke("manual", "--steps", "1", "--show-code", "-f", "table").stdout
    head = manual[: manual.index("step 0/1")]
    assert "with torch.no_grad():" in head and "p.grad = None" in head
    assert "sgd(params, grads, states, lr=0.1, momentum=0" in head
    assert inspect.getsource(sgd.sgd).strip() in head  # the rule as it is in its module
    assert "param.add_(grad, alpha=-lr)" in head
    # beside machine output the code is words: on stderr, the data unchanged
    plain = invoke("manual", "--steps", "1", "-f", "jsonl")
    shown = invoke("manual", "--steps", "1", "-f", "jsonl", "--show-code")
    assert shown.stdout == plain.stdout
    assert "with torch.no_grad():" in shown.stderr
    assert invoke("manual", "--steps", "1", "-f", "jsonl", "--show-code", "-q").stderr == ""


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("path", ["optim", "manual"])
def test_show_code_shows_autocast_and_the_gradient_scaler(invoke, path, amp):
    """--show-code --amp: the forward under torch.autocast, the backward outside it; with
    fp16 the scaler's calls in the order they run (torch's GradScaler on the optim path;
    on the manual path gradcli's HandScaler, its methods that run printed from their
    module and the rest left out). The data on stdout is the run's, unchanged."""
    from gradcli.train.loss_scaling import HandScaler

    args = [path, "-m", "mlp", "-o", "muon", "--amp", amp, "--steps", "2", "-f", "jsonl"]
    shown = invoke(*args, "--show-code")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout == invoke(*args).stdout
    code = shown.stderr
    dtype = {"bf16": "bfloat16", "fp16": "float16"}[amp]
    forward = f'with torch.autocast(device_type="cpu", dtype=torch.{dtype}):  # --amp {amp}\n'
    assert forward + "        loss = model()  # forward\n" in code
    calls = ["scaler.scale(loss).backward()", "scaler.unscale_(", "scaler.update()"]
    calls.insert(2, "scaler.step(" if path == "optim" else "if not scaler.skips(")
    if amp == "bf16":
        assert "scaler" not in code and "    loss.backward()" in code
        return
    assert [code.index(c) for c in calls] == sorted(code.index(c) for c in calls)
    assert "scaler.unscale_(1, grads)" in code or path == "optim"  # (AdamW's part too)
    hand = [inspect.getsource(getattr(HandScaler, m)) for m in ("scale", "unscale_", "update")]
    assert all(source in code for source in hand) == (path == "manual")
    assert "def state_dict" not in code  # (trimmed to what a step runs)


@pytest.mark.parametrize("model", ["linear", "mlp"])
@pytest.mark.parametrize("path", ["optim", "manual"])
def test_show_code_shows_the_micro_batches(invoke, path, model):
    """--show-code --accumulate K: K forward and backward passes a step, each of loss/K, on
    K equal slices of the problem's own samples (its data buffers, put back whole after),
    the update once; with fp16, loss/K times the scaler's S. The data on stdout is the
    run's, unchanged."""
    from gradcli.problems import BUILTINS

    args = [path, "-m", model, "--accumulate", "4", "--amp", "fp16", "--steps", "2", "-f", "jsonl"]
    shown = invoke(*args, "--show-code")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout == invoke(*args).stdout
    code = shown.stderr
    names = BUILTINS[model].data_buffers
    held = ", ".join(f"model.{name}" for name in names)
    sliced = ", ".join(f'data["{name}"].chunk(4)[i]' for name in names)
    lines = [
        "    for i in range(4):  # --accumulate 4: slice i of the problem's samples",
        f"        {held} = {sliced}",
        "            loss = model()  # forward",
        "        scaler.scale(loss / 4).backward()",
        f"    {held} = " + ", ".join(f'data["{name}"]' for name in names),
        "scaler.update()",
    ]
    assert [code.index(line) for line in lines] == sorted(code.index(line) for line in lines)
    assert code.count("backward()") == 1  # (in the loop over the micro-batches)


@pytest.mark.parametrize("path", ["optim", "manual"])
def test_show_code_takes_k_batches_of_the_loader_a_step(invoke, path):
    """--show-code --accumulate K on --data: each step takes the loader's next K batches,
    as many steps an epoch as the run takes (its records say)."""
    args = [path, "--data", "digits", "-m", "linear", "--batch-size", "100", "--epochs", "1"]
    args += ["--accumulate", "3", "-f", "jsonl"]
    shown = invoke(*args, "--show-code")
    assert shown.exit_code == 0, shown.stderr
    steps = [r["step"] for r in jsonl(shown.stdout) if "epoch_end" not in r][1:]
    code = shown.stderr
    lines = [
        "    batches = iter(loader)",
        f"    for update in range({len(steps)}):  # 3 of its batches each",
        "        for i in range(3):  # --accumulate 3",
        "            x, y = next(batches)  # the loader's next batch: micro-batch i",
        "            (loss / 3).backward()",
    ]
    assert [code.index(line) for line in lines] == sorted(code.index(line) for line in lines)
    assert steps == list(range(1, len(steps) + 1)) and len(steps) == 5  # 15 batches of 100


@pytest.mark.parametrize("optimizer", fast_cases(["muon", "lbfgs"]))
@pytest.mark.parametrize("path", fast_cases(["optim", "manual"]))
def test_show_code_of_split_and_closure_optimizers(invoke, path, optimizer):
    """Muon's two optimizers (the matrices, AdamW for the rest) and LBFGS's closure."""
    result = invoke(path, "-o", optimizer, "--steps", "0", "--show-code", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    code = result.stderr
    if optimizer == "lbfgs":
        assert "def closure():" in code
    elif path == "optim":
        assert "optimizers = [muon_optimizer, adamw_optimizer]" in code
    else:
        assert "# muon, from gradcli/optimizers/muon.py:" in code and "adamw(params" in code
