"""Learning-rate schedules: the hand-written rules against torch.optim.lr_scheduler, bit for bit,
their parsing, and ``gradcli schedule``'s formats."""

from __future__ import annotations

import csv
import inspect
import io
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gradcli_process, jsonl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lanes import fast_cases
from schedule_strategies import STEPS, spec_of
from torch.optim import lr_scheduler

from gradcli import optimizers, schedules
from gradcli.errors import GradcliError
from gradcli.schedules.catalog import REQUIRED
from gradcli.schedules.schedule import Schedule
from gradcli.schedules.schedule_spec import parse_schedule
from gradcli.schedules.side_by_side import FIELDS, SyntheticLosses, side_by_side

OPTIMIZERS = [("sgd", {"momentum": 0.9}), ("sgd", {}), ("adam", {}), ("rmsprop", {})]


@pytest.mark.parametrize("name", fast_cases(list(schedules.catalog()), {"steplr"}))
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_the_hand_written_lr_is_torchs_bit_for_bit(name, data):
    scheduler = schedules.catalog()[name]
    spec = data.draw(spec_of(scheduler))
    optimizer, settings_ = data.draw(st.sampled_from(OPTIMIZERS))
    lr = data.draw(st.floats(0.0, 1.0))
    losses = None
    if scheduler.needs_loss:  # a noisy, plateauing loss: improvements, plateaus, spikes
        rng = random.Random(data.draw(st.integers(0, 2**32)))
        losses = [1 + 9 * 0.97**t + rng.uniform(-0.05, 0.05) * rng.random() for t in range(STEPS)]
    rows, _ = side_by_side(spec, STEPS, lr, optimizers.find(optimizer), settings_, losses)
    try:
        different = [r for r in rows if not r.bit_identical]
    except GradcliError as error:  # OneCycleLR with a last phase of no length: torch divides
        assume("has no length" not in str(error))  # by zero as well; not a difference
        raise
    assert not different, (spec.text, different[0])


@pytest.mark.parametrize("scheduler", schedules.catalog().values(), ids=lambda s: s.name)
def test_the_defaults_are_torchs(scheduler):
    signature = inspect.signature(getattr(lr_scheduler, scheduler.torch_class).__init__)
    for h in scheduler.hyperparameters:
        default = signature.parameters[h.name].default
        if h.default is REQUIRED:
            assert default is inspect.Parameter.empty, h.name
        else:
            assert h.default == default and type(h.default) is type(default), h.name


def test_the_closed_form_differs_from_the_recursion_and_is_kept():
    schedule = Schedule(parse_schedule("ExponentialLR(gamma=0.9)"), 0.1)
    for _ in range(3):
        schedule.step()
    assert schedule.lr == 0.1 * 0.9 * 0.9 * 0.9 != schedule.closed_form() == 0.1 * 0.9**3


def test_a_schedule_resumes_from_its_state():
    text = (
        "SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=5), "
        "OneCycleLR(max_lr=0.3, total_steps=100)], milestones=[7])"
    )
    whole = Schedule(parse_schedule(text), 0.1, {"momentum": 0.9})
    first = Schedule(parse_schedule(text), 0.1, {"momentum": 0.9})
    for _ in range(20):
        whole.step()
        first.step()
    resumed = Schedule(parse_schedule(text), 0.1, {"momentum": 0.9})
    resumed.load_state_dict(first.state_dict())
    for _ in range(30):
        assert (resumed.lr, resumed.momentum) == (whole.lr, whole.momentum)
        whole.step()
        resumed.step()


@pytest.mark.parametrize(
    "text, says",
    fast_cases(
        [
            ("StepLR", "StepLR needs step_size (an integer >= 1)"),
            ("StepLR(step_size=0)", "step_size must be an integer >= 1, got 0"),
            ("StepLR(step_sise=3)", "has no keyword 'step_sise' (did you mean step_size?)"),
            ("SteppLR(step_size=3)", "unknown scheduler 'SteppLR' (did you mean StepLR?)"),
            ("lr_scheduler.StepLR(step_size=3)", "drop 'lr_scheduler.': gradcli takes the class"),
            ("StepLR(step_size=3, gamma=__import__('os'))", "gamma must be a literal value"),
            ("StepLR(step_size=3, last_epoch=4)", "last_epoch is for resuming"),
            ("MultiStepLR(milestones=5)", "milestones must be a list of integers >= 0, got 5"),
            ("LinearLR(start_factor=0)", "start_factor must be a number in (0, 1], got 0.0"),
            ("OneCycleLR(max_lr=0.1)", "needs total_steps, or epochs and steps_per_epoch"),
            ("OneCycleLR(max_lr=0.1, total_steps=10, pct_start=0.1)", "no length"),
            ("CyclicLR(base_lr=0.01, max_lr=0.1, mode='up')", "mode must be one of 'triangular'"),
            ("SequentialLR(schedulers=[StepLR(step_size=2)], milestones=[3])", "one value fewer"),
            ("SequentialLR(schedulers=[ReduceLROnPlateau()], milestones=[])", "not SequentialLR"),
            ("ChainedScheduler(schedulers=[LinearLR(bad=1)])", "LinearLR has no keyword 'bad'"),
            ("StepLR(step_size=(3", "not a scheduler like"),
        ],
        4,
        several=True,
    ),
)
def test_bad_schedules_are_one_line_and_exit_2(invoke, text, says):
    result = invoke("schedule", text, "--steps", "5", "-f", "jsonl")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["StepLR(step_size=2)", "--losses", "1,2"], "--losses applies to ReduceLROnPlateau"),
        (["ReduceLROnPlateau()", "--losses", "1,x"], "'x' is not a number"),
        (["ReduceLROnPlateau()", "--losses", "1,2", "--steps", "3"], "one loss per step"),
        (["OneCycleLR(max_lr=0.1, total_steps=50)"], "takes at most 50 steps"),
        (["OneCycleLR(max_lr=0.1, total_steps=50)", "--steps", "5", "-o", "adafactor"], "neither"),
        (["StepLR(step_size=2)", "--steps", "0"], "an integer in [1, 2**63), got 0"),
        (["StepLR(step_size=2)", "--steps", str(2**63)], "--steps must be an integer in [1,"),
        (["StepLR(step_size=2)", "--lr", "-1"], "--lr must be a finite number >= 0"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(invoke, args, says):
    result = invoke("schedule", *args, "-f", "jsonl")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


def test_jsonl_is_one_object_per_step_and_the_summary_goes_to_stderr(invoke):
    result = invoke(
        "schedule",
        "OneCycleLR(max_lr=0.1, total_steps=30)",
        "--steps",
        "30",
        "-o",
        "adam",
        "-f",
        "jsonl",
    )
    assert result.exit_code == 0, result.stderr
    rows = jsonl(result.stdout)
    assert [r["step"] for r in rows] == list(range(1, 31))
    assert all(list(r) == list(FIELDS) and r["bit_identical"] for r in rows)
    # step 1 anneals from max_lr at pct 0: not exactly max_lr/div_factor, as in torch
    assert rows[0]["lr"] == 0.1 + (0.1 / 25 - 0.1) / 2.0 * 2 != 0.1 / 25
    assert rows[0]["momentum"] == 0.95  # Adam's β1
    assert result.stderr == "bit-identical for all 30 steps\n"  # torch's warnings stay out


@pytest.mark.parametrize("fmt, delimiter", [("csv", ","), ("tsv", "\t")])
def test_csv_and_tsv_have_a_header_and_a_row_per_step(invoke, fmt, delimiter):
    result = invoke("schedule", "ReduceLROnPlateau(patience=1)", "--losses", "3,2,2,2,2", "-f", fmt)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout), delimiter=delimiter))
    assert rows[0] == list(FIELDS)
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert [float(r[1]) for r in rows[1:]] == [0.1, 0.1, 0.1, 0.1, 0.1 * 0.1]


def test_the_synthetic_losses_plateau_and_the_lr_drops(invoke):
    rows = jsonl(invoke("schedule", "ReduceLROnPlateau()", "-f", "jsonl").stdout)
    drops = [
        r["step"] for r, before in zip(rows[1:], rows, strict=False) if r["lr"] != before["lr"]
    ]
    assert drops == [64, 75, 86, 97]


def test_the_synthetic_losses_are_computed_when_asked_as_the_list_was():
    for mode, curve in (("min", lambda t: 1 + 9 * 0.8**t), ("max", lambda t: 10 - 9 * 0.8**t)):
        losses = SyntheticLosses(300, mode)
        assert len(losses) == 300 and list(losses) == [curve(t) for t in range(1, 301)]
        assert losses[-1] == curve(300) and losses[2:4] == [curve(3), curve(4)]
    with pytest.raises(IndexError):
        SyntheticLosses(3)[3]


def test_rows_are_computed_as_they_are_asked_for():
    """A schedule of 10**15 steps gives its first rows at once (main computed every row
    first, growing to gigabytes)."""
    spec = parse_schedule("ReduceLROnPlateau(patience=1)")
    losses = SyntheticLosses(10**15)
    rows, key = side_by_side(spec, 10**15, 0.1, optimizers.find("sgd"), {}, losses)
    first = [next(rows) for _ in range(3)]
    assert [r.step for r in first] == [1, 2, 3] and key is None
    assert all(r.bit_identical and r.loss == losses[r.step - 1] for r in first)


def test_a_table_of_more_steps_than_a_person_reads_is_refused_with_the_formats_that_stream(
    invoke,
):
    result = invoke("schedule", "StepLR(step_size=2)", "--steps", "10001", "-f", "table")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "gradcli: error: --steps 10001: a table shows at most 10,000 steps; -f jsonl, csv or "
        "tsv write any number, each step as it is computed (| head ends them at once)\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_hundred_million_steps_stream_and_head_ends_them_quietly(fmt):
    """`gradcli schedule 'StepLR(step_size=2)' --steps 100000000 -f jsonl | head -1` printed
    nothing in 40 s and grew to 2.6 GB: now the first rows come at once and the closed pipe
    ends the run (the timeout only keeps a regression from hanging the suite)."""
    args = ["schedule", "StepLR(step_size=2)", "--steps", "100000000", "-f", fmt]
    process = gradcli_process(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline().decode()
    process.stdout.close()
    assert process.wait(timeout=120) == 141
    assert process.stderr.read() == b""
    assert first.startswith('{"step":1,"lr":0.1,' if fmt == "jsonl" else "step,lr,torch_lr,")


GOLDEN = """\
ExponentialLR(gamma=0.9): each step's lr by hand and by torch

  step   lr        torch lr   same bits   closed form − lr
 ──────────────────────────────────────────────────────────
     1   0.1       0.1        yes
     2   0.09      0.09       yes
     3   0.081     0.081      yes
     4   0.0729    0.0729     yes         -1.39e-17
     5   0.06561   0.06561    yes         -1.39e-17

bit-identical for all 5 steps
torch's closed form differs from its step-by-step lr at 2 of 5 steps (largest gap 1.39e-17): step()
multiplies the previous lr
"""


def test_the_table_layout(invoke):
    result = invoke("schedule", "ExponentialLR(gamma=0.9)", "--steps", "5", "-f", "table")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(GOLDEN)
    assert "lr (log scale)" in result.stdout and result.stdout.rstrip().endswith("• lr")


@pytest.mark.slow
def test_the_help_does_not_import_torch():
    code = (
        "import sys; from gradcli.cli import app\n"
        "try: app(['schedule', '--help'])\n"
        "except SystemExit: pass\n"
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "ReduceLROnPlateau" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "False"


TOY = '''
"""StepLR written again as a module of its own: what adding a scheduler takes."""

from gradcli.schedules.catalog import REQUIRED, Hyperparameter, Integer, Real, Rule, Scheduler


class PlainStepLRRule(Rule):
    def __init__(self, group, *, step_size, gamma):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(group)

    def get_lr(self):
        """lr_e = lr_{e−1}·γ where e > 0 is a multiple of step_size, else lr_{e−1}"""
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.group["lr"]
        return self.group["lr"] * self.gamma


SCHEDULERS = (
    Scheduler(
        name="plainsteplr",
        torch_class="StepLR",
        summary="the lr times γ every step_size steps (a module added by a test)",
        hyperparameters=(
            Hyperparameter("step_size", REQUIRED, Integer(1), "Steps between decays, >= 1."),
            Hyperparameter("gamma", 0.1, Real(0, 1), "Factor γ in [0, 1]."),
        ),
        rule=PlainStepLRRule,
    ),
)
'''


@pytest.mark.slow
def test_a_new_schedule_module_appears_everywhere_without_other_changes(tmp_path):
    """A module beside the others in gradcli/schedules (here: its folder added to the
    package's path) is in gradcli schedule's list and --schedule, and runs by hand and by
    torch (its torch_class, StepLR), nothing else edited."""
    (tmp_path / "plainsteplr.py").write_text(TOY)
    launcher = (
        "import sys; import gradcli.schedules as package\n"
        f"package.__path__.append({str(tmp_path)!r})\n"
        "from gradcli.cli import main; sys.argv[0] = 'gradcli'; main()\n"
    )

    def gradcli(*args):
        return subprocess.run(
            [sys.executable, "-c", launcher, *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )

    listed = gradcli("schedule", "Nope")
    assert listed.returncode == 2 and listed.stdout == ""
    assert ", plainsteplr, " in listed.stderr.splitlines()[-1]
    toy = "PlainStepLR(step_size=2, gamma=0.5)"
    both = gradcli("schedule", toy, "--steps", "5", "-f", "jsonl")
    assert both.returncode == 0, both.stderr
    rows = jsonl(both.stdout)
    assert [r["lr"] for r in rows] == [0.1, 0.1, 0.05, 0.05, 0.025]
    assert all(r["bit_identical"] for r in rows)  # equals torch's StepLR
    runs = {
        path: gradcli(path, "-m", "seed", "--schedule", toy, "--steps", "4", "-f", "jsonl")
        for path in ("manual", "optim")
    }
    for run in runs.values():
        assert run.returncode == 0, run.stderr
    assert runs["manual"].stdout == runs["optim"].stdout
    assert [r["lr"] for r in jsonl(runs["manual"].stdout)] == [None, 1e-3, 1e-3, 5e-4, 5e-4]
    bad = gradcli("optim", "--schedule", "PlainStepLR(step_size=0)")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "PlainStepLR(step_size=0): step_size must be an integer >= 1, got 0" in bad.stderr


def test_an_optimizer_refuses_a_schedule_through_its_own_check(invoke):
    """RMSprop's check lives in its module (``schedule_check``); the run spec only calls it:
    torch's RMSprop makes its momentum buffer only when momentum > 0 at the first step."""
    text = "OneCycleLR(max_lr=0.1, total_steps=100, base_momentum=0.0, max_momentum=0.0)"
    refused = invoke("optim", "-o", "rmsprop", "--steps", "3", "--schedule", text)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr == (
        "gradcli: error: --schedule OneCycleLR(max_lr=0.1, total_steps=100, base_momentum=0, "
        "max_momentum=0): it starts RMSprop's momentum at 0, and torch's RMSprop makes its "
        "momentum buffer only when momentum > 0 at the first step; give the schedule a first "
        "momentum > 0\n"
    )
    sgd = invoke("optim", "-o", "SGD(momentum=0.9)", "--steps", "3", "--schedule", text)
    assert sgd.exit_code == 0, sgd.stderr
    starts = text.replace("base_momentum=0.0, max_momentum=0.0", "max_momentum=0.9")
    assert invoke("optim", "-o", "rmsprop", "--steps", "3", "--schedule", starts).exit_code == 0
    checks = [o.name for o in optimizers.catalog().values() if o.schedule_check is not None]
    assert checks == ["rmsprop"]
    spec_source = (Path(optimizers.__file__).parent.parent / "spec.py").read_text().lower()
    assert "rmsprop" not in spec_source


def _imports_within(package: Path, name: str) -> dict[str, set[str]]:
    """Module → the modules of ``name`` it imports (anywhere in it, TYPE_CHECKING too)."""
    import ast

    found: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        module = name if path.stem == "__init__" else f"{name}.{path.stem}"
        targets = found.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    for target in (node.module, f"{node.module}.{alias.name}"):
                        if target == name or target.startswith(name + "."):
                            targets.add(target)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith(name)}
    return {m: {t for t in ts if t in found and t != m} for m, ts in found.items()}


def test_the_schedules_package_imports_one_way():
    """The index (``__init__``) imports ``catalog`` alone; the modules that use the index
    import it, never the other way: no circle among gradcli.schedules' modules."""
    graph = _imports_within(Path(schedules.__file__).parent, "gradcli.schedules")
    assert graph["gradcli.schedules"] == {"gradcli.schedules.catalog"}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module not in done:
            for target in graph[module]:
                visit(target, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())
