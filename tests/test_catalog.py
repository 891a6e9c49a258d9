"""The optimizer catalog: torch's constructor on the command line, `gradcli optimizers`,
and a new optimizer module that shows up everywhere without touching another file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import built_commands, jsonl
from lanes import fast_cases

from gradcli.optimizers import catalog, options
from gradcli.spec import choose_optimizer, parse_optimizer, split_optimizers

ADAM_BOTH_WAYS = [
    ["-o", "Adam(lr=0.01, betas=(0.8, 0.99), amsgrad=True)"],
    ["-o", "adam", "--lr", "0.01", "--beta1", "0.8", "--beta2", "0.99", "--amsgrad"],
    ["-o", "ADAM", "--lr", "0.01", "--betas", "0.8,0.99", "--amsgrad"],
]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_constructor_and_flags_print_the_same_bytes_on_both_paths(invoke, fmt):
    common = ["-m", "mlp", "--steps", "5", "--state", "--explain", "-f", fmt]
    printed = {
        (path, i): invoke(path, *args, *common)
        for path in ("manual", "optim")
        for i, args in enumerate(ADAM_BOTH_WAYS)
    }
    for result in printed.values():
        assert result.exit_code == 0, result.stderr
    first = printed["manual", 0].stdout
    assert "amsgrad" in first or "max_exp_avg_sq" in first
    for (path, _), result in printed.items():
        if fmt == "jsonl" or path == "manual":
            assert result.stdout == first
        else:  # the table's first line names the command
            shown = result.stdout.replace("gradcli optim", "gradcli manual").splitlines()
            assert [line.rstrip() for line in shown] == [
                line.rstrip() for line in first.splitlines()
            ]


@pytest.mark.slow
def test_a_flag_wins_over_the_same_keyword_in_the_constructor(invoke):
    via_flag = invoke("optim", "-m", "seed", "-o", "SGD(lr=0.5)", "--lr", "0.1", "--steps", "1")
    plain = invoke("optim", "-m", "seed", "-o", "sgd", "--lr", "0.1", "--steps", "1")
    assert via_flag.stdout == plain.stdout
    mixed = choose_optimizer("Adam(betas=(0.5, 0.6))", {"beta2": 0.7})
    assert mixed == ("adam", None, {"betas": (0.5, 0.7)})


BAD_CONSTRUCTORS = [
    (
        'Adam(lr=__import__("os").system("touch /tmp/gradcli-pwned"))',
        "lr must be a literal value (a number, string, True/False, None, or a list or tuple of "
        "them), "
        "got __import__('os').system('touch /tmp/gradcli-pwned')",
    ),
    ("Adam(momentum=0.9)", "Adam has no keyword 'momentum'; it takes: lr, betas, eps"),
    ("Adam(betas=0.9)", "betas must be a tuple of 2 values, each a number in [0, 1), got 0.9"),
    ("Adam(betas=(0.9, 1.0))", "betas must be a tuple of 2 values, each a number in [0, 1)"),
    ("Adam(amsgrad=1)", "amsgrad must be True or False, got 1"),
    ("SGD(lr=-1)", "lr must be a finite number >= 0, got -1.0"),
    ("SGD(lr='fast')", "lr must be a finite number >= 0, got 'fast'"),
    ("SGD(0.1)", "give the keywords by name, e.g. SGD(lr=0.001)"),
    ("SGD(params, 0.1)", "give the keywords by name"),
    ("SGD(lr=0.1, lr=0.2)", "lr is given twice"),
    ("SGD(**{'lr': 1})", "give the keywords by name, not **mapping"),
    ("SGD(params=[1])", "the parameters are the problem's (-m); leave them out"),
    ("Adam(lr=0.1, bets=(0.9, 0.99))", "Adam has no keyword 'bets' (did you mean betas?)"),
    ("SGD(foreach=True)", "foreach chooses torch's implementation, not the update; use --impl"),
    ("torch.optim.SGD(lr=0.1)", "drop 'torch.optim.': gradcli takes the class by its name alone"),
    ("np.max(1)", "not an optimizer name or a constructor like 'Adam(lr=0.01)'"),
    ("Adam(lr=0.1", "not an optimizer name or a constructor"),
    ("Lion(lr=0.1)", "unknown optimizer 'Lion'"),
    ("SGD(nesterov=True)", "nesterov needs momentum > 0 and dampening 0"),
    ("SGD(momentum=0.9, nesterov=True, dampening=0.5)", "got momentum 0.9 and dampening 0.5"),
]


@pytest.mark.parametrize(
    ("text", "message"),
    fast_cases(BAD_CONSTRUCTORS, BAD_CONSTRUCTORS[:3], several=True),
    ids=[t for t, _ in BAD_CONSTRUCTORS],
)
@pytest.mark.parametrize("command", fast_cases(["optim", "compare"]))
def test_a_bad_constructor_is_one_line_and_exit_2(invoke, tmp_path, text, message, command):
    result = invoke(command, "-m", "seed", "-o", text, "--steps", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("gradcli: error: --optimizer")
    assert message in result.stderr
    assert not os.path.exists("/tmp/gradcli-pwned")


def test_constructor_values_are_never_evaluated():
    with pytest.raises(Exception, match="literal"):
        parse_optimizer("SGD(lr=(lambda: 0.1)())")
    assert parse_optimizer("sgd")[1] == {}
    assert parse_optimizer("Rmsprop(centered=True, alpha=1)")[1] == {"centered": True, "alpha": 1}


def test_compare_splits_runs_at_top_level_commas_only():
    assert split_optimizers(["sgd,Adam(betas=(0.8, 0.9), eps=1e-6)", "rmsprop"]) == [
        "sgd",
        "Adam(betas=(0.8, 0.9), eps=1e-6)",
        "rmsprop",
    ]


@pytest.mark.slow
def test_compare_runs_of_one_optimizer_are_labelled_apart(invoke):
    result = invoke(
        "compare",
        "-m",
        "seed",
        "-o",
        "SGD(lr=0.01)",
        "-o",
        "SGD(lr=0.01, momentum=0.9)",
        "-o",
        "Adam(lr=0.01)",
        "--steps",
        "3",
        "-f",
        "jsonl",
    )
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert [r["label"] for r in records[:3]] == ["sgd(momentum=0)", "sgd(momentum=0.9)", "adam"]
    assert [r["optimizer"] for r in records[:3]] == ["sgd", "sgd", "adam"]
    assert records[-2]["optim_loss"] != records[-3]["optim_loss"]  # momentum changed the run
    table = invoke(
        "compare",
        "-m",
        "seed",
        "-o",
        "SGD(lr=0.01)",
        "-o",
        "SGD(lr=0.02)",
        "--steps",
        "3",
        "-f",
        "table",
    )
    assert "sgd(lr=0.01)" in table.stdout and "sgd(lr=0.02)" in table.stdout
    assert "• sgd(lr=0.01)   + sgd(lr=0.02)" in table.stdout  # the plot's legend


def test_compare_refuses_the_same_run_twice(invoke):
    result = invoke("compare", "-o", "sgd,sgd")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "gradcli: error: --optimizer: sgd is given twice; the runs of one optimizer must "
        "differ in some setting\n"
    )


@pytest.mark.slow
def test_print_config_writes_the_constructor_and_reads_back(invoke, tmp_path):
    args = ["-m", "seed", "-o", "Adam(lr=0.01, betas=(0.8, 0.99))", "--amsgrad", "--steps", "3"]
    printed = invoke("manual", *args, "--print-config").stdout
    assert (
        'optimizer = "Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-08, weight_decay=0.0, '
        'amsgrad=True, maximize=False, decoupled_weight_decay=False)"\n'
    ) in printed
    config = tmp_path / "run.toml"
    config.write_text(printed)
    direct = invoke("manual", *args, "-f", "jsonl").stdout
    assert invoke("manual", "--config", str(config), "-f", "jsonl").stdout == direct


def test_config_file_keys_set_hyperparameters_as_options_do(invoke, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('model = "seed"\noptimizer = "adam"\nbetas = [0.8, 0.99]\nsteps = 2\n')
    via_file = invoke("optim", "--config", str(config), "-f", "jsonl")
    direct = invoke(
        "optim", "-m", "seed", "-o", "Adam(betas=(0.8, 0.99))", "--steps", "2", "-f", "jsonl"
    )
    assert via_file.exit_code == 0, via_file.stderr
    assert via_file.stdout == direct.stdout


@pytest.mark.slow
def test_every_hyperparameter_has_an_option_in_the_help(invoke):
    help_text = invoke("optim", "--help").stdout
    for name in options():
        assert f"--{name.replace('_', '-')}" in help_text


def test_the_list_names_every_optimizer_with_torch_defaults(invoke):
    rows = jsonl(invoke("optimizers", "-f", "jsonl").stdout)
    assert [r["name"] for r in rows] == list(catalog())
    for row in rows:
        signature = getattr(torch.optim, row["torch_class"]).__init__.__defaults__
        assert signature is not None
        described = catalog()[row["name"]]
        torch_defaults = _torch_defaults(row["torch_class"])
        assert torch_defaults["lr"] == row["lr"]
        for h in described.hyperparameters:
            assert torch_defaults[h.name] == h.default, (row["name"], h.name)
        assert set(row["hyperparameters"]) == {h.name for h in described.hyperparameters}


def _torch_defaults(torch_class: str) -> dict:
    import inspect

    parameters = inspect.signature(getattr(torch.optim, torch_class)).parameters
    return {k: p.default for k, p in parameters.items() if p.default is not p.empty}


def test_one_optimizer_page(invoke):
    result = invoke("optimizers", "Adam", "-f", "table")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("adam: adaptive moments")
    assert "mirrors torch.optim.Adam(params, lr=0.001, betas=(0.9, 0.999), eps=1e-08," in out
    assert "v ← β2·v + (1 − β2)·g²" in out  # the rule's math
    assert "max_exp_avg_sq" in out and "--beta1" in out
    rows = jsonl(invoke("optimizers", "adam", "-f", "jsonl").stdout)
    assert rows[0] == {
        "name": "adam",
        "keyword": "betas",
        "default": [0.9, 0.999],
        "allowed": "a tuple of 2 values, each a number in [0, 1)",
        "meaning": "Decays (β1, β2) of the first and second moments, each in [0, 1).",
    }
    unknown = invoke("optimizers", "sgdd")
    assert unknown.exit_code == 2 and "did you mean sgd?" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "linaer"], "--model: unknown model 'linaer' (did you mean linear?); choose one"),
        (["-f", "jsnol"], "--format: unknown format 'jsnol' (did you mean jsonl?); choose one"),
        (["--dtype", "float46"], "--dtype: unknown dtype 'float46' (did you mean float64?)"),
    ],
)
def test_a_misspelt_choice_gets_a_did_you_mean(invoke, args, message):
    result = invoke("optim", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"gradcli: error: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_compare_runs_and_lists_the_classics_the_catalog_marks():
    classics = [o.name for o in catalog().values() if o.compared_by_default]
    assert classics == ["adagrad", "adam", "adamw", "rmsprop", "sgd"]
    assert split_optimizers(None) == classics
    option = next(p for p in built_commands()["compare"].params if p.name == "optimizer")
    assert f"(default: {', '.join(classics)}; all: every optimizer)" in option.help


@pytest.mark.slow
def test_the_optimizer_list_does_not_import_torch():
    code = (
        "import sys; from gradcli.cli import app\n"
        "try: app(['optimizers', '-f', 'jsonl'])\n"
        "except SystemExit: pass\n"
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "False"


TOY = '''
"""Plain SGD with L2 weight decay, as a module of its own: what adding an optimizer takes."""

from gradcli.optimizers.catalog import Hyperparameter, Optimizer, Real


def plainsgd(params, grads, states, *, lr, weight_decay):
    """θ ← θ − lr·(g + λ·θ)"""
    for param, grad in zip(params, grads, strict=True):
        param.add_(grad.add(param, alpha=weight_decay), alpha=-lr)


OPTIMIZERS = (
    Optimizer(
        name="plainsgd",
        torch_class="SGD",
        summary="SGD without momentum (a module added by a test)",
        lr=0.001,
        hyperparameters=(Hyperparameter("weight_decay", 0.0, Real(0, 1), "Decay λ in [0, 1]."),),
        state={},
        rule=plainsgd,
        explain=lambda e, h: ["θ − lr·(g + λ·θ)"],
        compared_by_default=True,
    ),
)
'''


@pytest.mark.slow
def test_a_new_optimizer_module_appears_everywhere_without_other_changes(tmp_path):
    """A module beside the others in gradcli/optimizers (here: its folder added to the
    package's path) is in the list, --help, config files and compare, nothing else edited."""
    (tmp_path / "plainsgd.py").write_text(textwrap.dedent(TOY))
    (tmp_path / "run.toml").write_text(
        'model = "seed"\noptimizer = "plainsgd"\nweight_decay = 0.5\n'
    )
    launcher = (
        "import sys; import gradcli.optimizers as package\n"
        f"package.__path__.append({str(tmp_path)!r})\n"
        "from gradcli.cli import main; sys.argv[0] = 'gradcli'; main()\n"
    )

    def gradcli(*args):
        return subprocess.run(
            [sys.executable, "-c", launcher, *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "100"},
            timeout=120,
            cwd=tmp_path,
        )

    listed = gradcli("optimizers", "-f", "jsonl")
    assert "plainsgd" in [r["name"] for r in jsonl(listed.stdout)], listed.stderr
    described = jsonl(gradcli("optimizers", "plainsgd", "-f", "jsonl").stdout)  # its keywords
    assert [(d["keyword"], d["meaning"]) for d in described] == [
        ("weight_decay", "Decay λ in [0, 1].")
    ]
    run = gradcli("manual", "--config", "run.toml", "--steps", "1", "-f", "jsonl")
    assert run.returncode == 0, run.stderr
    # w = [1, 2, 3], g = 1/3: w − 0.001·(1/3 + 0.5·w), in float32
    expected = [w - 0.001 * (1 / 3 + 0.5 * w) for w in (1.0, 2.0, 3.0)]
    assert jsonl(run.stdout)[1]["params"]["w"]["value"] == pytest.approx(expected, rel=1e-6)
    helped = " ".join(gradcli("compare", "--help").stdout.replace("│", " ").split())
    assert "(default: adagrad, adam, adamw, plainsgd, rmsprop, sgd; all: every" in helped
    defaults = gradcli("compare", "-m", "linear", "--steps", "1", "-f", "jsonl")
    assert "plainsgd" in {r.get("optimizer") for r in jsonl(defaults.stdout)}, defaults.stderr
    compared = gradcli("compare", "-m", "linear", "-o", "plainsgd(weight_decay=0.5)", "-f", "jsonl")
    assert compared.returncode == 0, compared.stderr
    assert all(r["bit_identical"] for r in jsonl(compared.stdout))  # equals torch.optim.SGD
    bad = gradcli("manual", "-o", "plainsgd(weight_decay=2)")
    assert bad.returncode == 2
    assert "weight_decay must be a number in [0, 1], got 2.0" in bad.stderr
