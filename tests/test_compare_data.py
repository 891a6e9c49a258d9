"""`gradcli compare --data`, and the pictures and diff of runs with epochs (issue 22).

Every method and both paths draw the same batches; after each epoch one record per method
gives the torch.optim path's training and held-out loss and accuracy, the same numbers
`gradcli optim` prints for that run. `gradcli plot` and `gradcli diff` read those records
back: the loss per epoch (training and held-out), and every field compared bit for bit.
"""

from __future__ import annotations

import json
import re

import pytest
from helpers import jsonl
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.records import EpochRecord, MethodSummary

# digits, small: 1347 training samples in 6 batches of 256, 450 held out; 2 epochs
DATA = ["--data", "digits", "--model", "mlp", "--batch-size", "256", "--val-fraction", "0.25"]
EPOCHS = ["--epochs", "2"]
BATCHES = 6


def run(*args: str, columns: str = "80", stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin, env={"COLUMNS": columns})


@pytest.fixture(scope="module")
def compared():
    """One comparison of two methods on digits as JSON lines, its records parsed."""
    result = run("compare", *DATA, *EPOCHS, "-o", "sgd,adam", "-f", "jsonl", "--tol", "0.9")
    assert result.exit_code == 0, result.stderr
    return result, jsonl(result.stdout)


@pytest.fixture(scope="module")
def adam_alone():
    """The same adam run on its own, with `gradcli optim`."""
    result = run("optim", *DATA, *EPOCHS, "-o", "adam", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    return result, jsonl(result.stdout)


def test_compare_on_data_has_epochs_after_every_methods_last_step(compared):
    _, records = compared
    steps = [r for r in records if "epoch_end" not in r]
    ends = [r for r in records if "epoch_end" in r]
    assert [(r["step"], r["label"]) for r in steps] == [
        (step, label) for step in range(2 * BATCHES + 1) for label in ("sgd", "adam")
    ]
    for r in steps[2:]:  # step 0 has no batch
        assert (r["epoch"], r["batch"]) == ((r["step"] - 1) // BATCHES + 1, (r["step"] - 1) % 6 + 1)
        assert r["manual_loss"] == r["optim_loss"] and r["bit_identical"] is True
    assert [(r["epoch_end"], r["label"]) for r in ends] == [
        (1, "sgd"),
        (1, "adam"),
        (2, "sgd"),
        (2, "adam"),
    ]
    for end in ends:  # each right after the last step of its epoch, of every method
        at = records.index(end)
        before = [r for r in records[:at] if "epoch_end" not in r]
        assert before[-1]["step"] == end["step"] == end["epoch_end"] * BATCHES
        assert list(end) == [
            "epoch_end",
            "step",
            "optimizer",
            "label",
            "lr",
            "train_loss",
            "train_accuracy",
            "val_loss",
            "val_accuracy",
        ]
        assert 0 <= end["val_accuracy"] <= 1


def test_compare_draws_the_batches_optim_draws(compared, adam_alone):
    """A method of compare is the run `gradcli optim` makes with the same options: the same
    losses at every step and the same ends of epochs, bit for bit."""
    _, records = compared
    _, alone = adam_alone
    adam = [r for r in records if r["label"] == "adam"]
    assert [r.get("loss", r.get("optim_loss")) for r in alone if "epoch_end" not in r] == [
        r["optim_loss"] for r in adam if "epoch_end" not in r
    ]
    mine = [
        {k: v for k, v in r.items() if k not in ("optimizer", "label")}
        for r in adam
        if "epoch_end" in r
    ]
    assert mine == [r for r in alone if "epoch_end" in r]


def test_summary_lines_say_the_final_evaluation_and_the_epochs_to_tol(compared, adam_alone):
    result, records = compared
    lines = result.stderr.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["sgd", "adam"]
    assert all(line.endswith(", bit-identical") for line in lines)
    # the end of the run, as gradcli optim's summary says it
    optim_summary = adam_alone[0].stderr.strip()
    tail = optim_summary.split("training loss ", 1)[1]
    assert lines[1].startswith(f"gradcli: adam: training loss {tail};")
    for line, label in zip(lines, ("sgd", "adam"), strict=True):
        val = [r["val_loss"] for r in records if r.get("epoch_end") and r["label"] == label]
        reached = next((i + 1 for i, v in enumerate(val) if v <= 0.9), None)
        said = "not in 2 epochs" if reached is None else f"at epoch {reached}"
        assert f"; held-out loss <= 0.9 {said}," in line


def test_the_table_at_80_columns(compared):
    result = run(
        "compare", *DATA, *EPOCHS, "-o", "sgd", "-o", "SGD(lr=0.1, momentum=0.9)", "-o",
        "Adam(lr=0.01)", "--target-accuracy", "0.5", "-f", "table",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[0].startswith("gradcli compare · model mlp · ")  # what every run shares
    assert lines[1].startswith("data ")
    lines = lines[lines.index("manual vs torch.optim") :]  # the table
    header = " ".join(lines[2:4])
    for word in ("optimizer", "lr", "train", "val", "acc", "epochs", "manual"):
        assert word in header
    assert "to 50%" in header
    rows = "\n".join(lines[5:12])
    assert "sgd(lr=1," in rows and "sgd(lr=0.1," in rows and "adam" in rows  # lr as used
    assert rows.count("identical") == 3
    assert "epochs to 50%: the first whose val acc is ≥ 50%" in " ".join(lines)
    text = result.stdout
    train = text.index("training loss per epoch")
    held_out = text.index("held-out loss after each epoch")
    assert train < held_out
    assert text.count("epoch".center(9)) >= 2  # the x axis of both
    legend = "• sgd(lr=1, momentum=0)   + sgd(lr=0.1, momentum=0.9)   x adam"
    assert text.count(legend) == 2


@pytest.mark.slow
def test_epochs_to_target_in_table_and_lines_agree_with_the_records(compared):
    args = ["compare", *DATA, *EPOCHS, "-o", "adam", "--target-accuracy", "0.6"]
    records = jsonl(run(*args, "-f", "jsonl").stdout)
    val = [r["val_accuracy"] for r in records if "epoch_end" in r]
    reached = next((i + 1 for i, a in enumerate(val) if a >= 0.6), None)
    table = run(*args, "-f", "table").stdout.splitlines()
    row = next(line for line in table if line.startswith("  adam"))
    assert row.split()[6] == ("never" if reached is None else str(reached))


@pytest.mark.slow
def test_csv_has_the_data_columns_and_a_row_per_epoch_and_method(compared):
    result = run("compare", *DATA, "--epochs", "1", "-o", "sgd,adam", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = [line.split(",") for line in result.stdout.splitlines()]
    assert rows[0][-5:] == ["epoch", "batch", "train_accuracy", "val_loss", "val_accuracy"]
    assert rows[1][-5:] == ["", "", "", "", ""]  # step 0
    assert rows[3][-5:] == ["1", "1", "", "", ""]
    ends = [r for r in rows[1:] if r[-5] and not r[-4]]
    assert [(r[0], r[2], r[-5]) for r in ends] == [("6", "sgd", "1"), ("6", "adam", "1")]
    assert all(r[4] == r[6] == r[7] == r[8] == "" and float(r[5]) > 0 for r in ends)
    assert len({len(r) for r in rows}) == 1


@pytest.mark.slow
def test_a_schedule_stepped_per_epoch_steps_both_paths_once_an_epoch():
    args = ["compare", *DATA, *EPOCHS, "-o", "sgd,adam", "-f", "jsonl"]
    schedule = ["--schedule", "StepLR(step_size=1, gamma=0.5)", "--schedule-per", "epoch"]
    records = jsonl(run(*args, *schedule).stdout)
    adam = [r for r in records if r["label"] == "adam"]
    steps = [r for r in adam if "epoch_end" not in r and r["step"]]
    assert {r["lr"] for r in steps if r["epoch"] == 1} == {0.01}
    assert {r["lr"] for r in steps if r["epoch"] == 2} == {0.005}
    assert [r["lr"] for r in adam if "epoch_end" in r] == [0.005, 0.0025]
    assert all(r["bit_identical"] for r in records if "epoch_end" not in r)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-m", "seed", "--target-accuracy", "0.9"],
            "--target-accuracy applies with --data only",
        ),
        ([*DATA, "--target-accuracy", "95"], "must be a fraction in (0, 1] (0.95 for 95%)"),
        ([*DATA, "--target-accuracy", "0"], "must be a fraction in (0, 1]"),
        (
            [*DATA[:6], "--val-fraction", "0", "--target-accuracy", "0.9"],
            "no data is held out (--val-fraction 0)",
        ),
        ([*DATA, "--epochs", "2", "--steps", "5"], "--steps 5 and --epochs 2 disagree"),
        (["-m", "seed", "--batch-size", "8"], "--batch-size applies with --data only"),
    ],
)
def test_bad_data_options_are_one_line_and_exit_2(args, message):
    result = run("compare", *args, "-o", "sgd", "-f", "jsonl")
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("gradcli: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_print_config_keeps_the_data_options_and_the_target():
    args = ["compare", *DATA, "-o", "sgd,adam", "--target-accuracy", "0.9", "--print-config"]
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    toml = result.stdout
    for line in ('data = "digits"', "batch_size = 256", "val_fraction = 0.25"):
        assert line in toml
    assert "target_accuracy = 0.9" in toml


def ends(accuracies: list[float | None], losses: list[float]) -> list[EpochRecord]:
    return [
        EpochRecord(i + 1, 10 * (i + 1), 1.0, None, loss, accuracy, 0.1)
        for i, (accuracy, loss) in enumerate(zip(accuracies, losses, strict=True))
    ]


@given(
    st.lists(st.floats(0, 1), min_size=0, max_size=8),
    st.floats(0.01, 1),
    st.floats(0, 5),
)
def test_epochs_to_target_and_to_tol_are_the_first_epochs_that_reach_them(accuracies, a, tol):
    losses = [1 - x for x in accuracies]
    summary = MethodSummary("sgd", "sgd", 0.1, tol=tol, target_accuracy=a)
    summary.epochs = ends(list(accuracies), losses)
    first = next((i + 1 for i, x in enumerate(accuracies) if x >= a), None)
    assert summary.epochs_to_target == first
    assert summary.epochs_to_tol == next((i + 1 for i, x in enumerate(losses) if x <= tol), None)
    if first is not None:  # no earlier epoch reached it; this one did
        assert all(x < a for x in accuracies[: first - 1]) and accuracies[first - 1] >= a


# --- the pictures and diff of runs with epochs --------------------------------------------


def epoch_run(epochs: int = 4, val: bool = True) -> str:
    """A made-up run on data: 2 steps an epoch; the training loss halves every epoch, the
    held-out loss falls by a fifth. Numbers that depend on no CPU."""
    lines = [{"step": 0, "loss": None, "lr": None, "params": {}}]
    for epoch in range(1, epochs + 1):
        for batch in (1, 2):
            step = 2 * (epoch - 1) + batch
            lines.append(
                {"step": step, "loss": 2.0 / step, "lr": 0.1, "epoch": epoch, "batch": batch}
                | {"params": {}}
            )
        lines.append(
            {
                "epoch_end": epoch,
                "step": 2 * epoch,
                "lr": 0.1,
                "train_loss": 2.0 * 0.5 ** (epoch - 1),
                "train_accuracy": 0.5,
                "val_loss": 3.0 * 0.8 ** (epoch - 1) if val else None,
                "val_accuracy": 0.5 if val else None,
            }
        )
    return "".join(json.dumps(line) + "\n" for line in lines)


EPOCH_PICTURE = """\

loss per epoch: train (its batches), val (held out) (log scale)
       3 ┤+
         │                     +
         │•                                          +
         │
         │                                                                +
         │
         │                     •
   0.787 ┤
         │
         │                                           •
         │
         │
         │
    0.25 ┤                                                                •
         └─────────────────────────────────────────────────────────────────
          1                             epoch                             4
          • train   + val"""


def test_plot_draws_training_and_held_out_loss_per_epoch(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(epoch_run())
    result = run("plot", str(path), "--plot", "loss", columns="76")
    assert result.exit_code == 0, result.stderr
    assert [line.rstrip() for line in result.stdout.splitlines()] == EPOCH_PICTURE.splitlines()


def test_plot_of_several_runs_draws_a_picture_of_each_loss(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(epoch_run())
    b.write_text(epoch_run(val=False))
    result = run("plot", str(a), str(b))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "training loss per epoch (the mean over its batches)" in out
    assert "held-out loss after each epoch" in out
    train, held_out = out.split("held-out loss after each epoch")
    assert "• a.jsonl   + b.jsonl" in train
    assert "• a.jsonl" in held_out and "b.jsonl" not in held_out  # b holds nothing out


def test_plot_reads_epoch_lines_alone_and_compare_files_with_epochs(compared, tmp_path):
    only = "".join(line for line in epoch_run().splitlines(True) if "epoch_end" in line)
    result = run("plot", "-", stdin=only)
    assert result.exit_code == 0, result.stderr
    assert "loss per epoch: train (its batches), val (held out)" in result.stdout
    path = tmp_path / "compare.jsonl"
    path.write_text(compared[0].stdout)
    result = run("plot", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("• sgd   + adam") == 2  # the training and held-out pictures


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train_loss": "low"}, '"train_loss" is not a number or null'),
        ({"train_loss": None}, '"train_loss" is not a number'),
        ({"epoch_end": -1}, '"epoch_end" is not an integer in [0, 2**63)'),
        ({"val_loss": [1]}, '"val_loss" is not a number or null'),
    ],
)
def test_a_bad_epoch_line_is_exit_2_naming_file_and_line(tmp_path, change, message):
    lines = epoch_run(1).splitlines()
    lines[3] = json.dumps({**json.loads(lines[3]), **change})
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join(lines) + "\n")
    for command in ("plot", "diff"):
        result = run(command, str(path), *([str(path)] if command == "diff" else []))
        assert result.exit_code == 2
        assert result.stderr == f"gradcli: error: {path}:4: not a gradcli record: {message}\n"


def test_plot_on_a_data_run_draws_per_epoch_beside_json_lines(adam_alone):
    result = run("optim", *DATA, *EPOCHS, "-o", "adam", "-f", "jsonl", "--plot", "loss")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == adam_alone[0].stdout
    assert "loss per epoch: train (its batches), val (held out)" in result.stderr
    assert "• train   + val" in result.stderr


@pytest.mark.slow
def test_plot_file_of_compare_on_data(tmp_path):
    target = tmp_path / "c.svg"
    args = ["compare", *DATA, "--epochs", "1", "-o", "sgd,adam", "-f", "jsonl"]
    result = run(*args, "--plot-file", str(target))
    assert result.exit_code == 0, result.stderr
    svg = target.read_text()
    assert "loss per epoch: train (mean over its batches), val (held out)" in svg
    for label in ("sgd", "adam"):  # each run's settings beside its name
        assert re.search(f">{label}, lr=[0-9.]+: train<", svg)
        assert re.search(f">{label}, lr=[0-9.]+: val<", svg)


def test_diff_compares_epoch_lines_bit_for_bit(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(epoch_run())
    lines = epoch_run().splitlines()
    changed = json.loads(lines[6])
    assert changed["epoch_end"] == 2
    changed["val_accuracy"] = 0.5000000000000001
    lines[6] = json.dumps(changed)
    b.write_text("\n".join(lines) + "\n")
    same = run("diff", str(a), str(a))
    assert same.exit_code == 0 and same.stdout == ""
    assert same.stderr.endswith("agree bit for bit: 13 records\n")
    result = run("diff", str(a), str(b))
    assert result.exit_code == 1
    out = result.stdout.splitlines()
    assert out[0] == (
        f"gradcli diff: {a} and {b} part at the end of epoch 2 (step 4), val_accuracy:"
    )
    assert out[3] == "  |A − B| 1.11e-16 (1 float64 ULP)"
    assert " ".join(out[-1].split()) == "4 (end of epoch 2) 1 1.11e-16 1 val_accuracy"
    pairs = jsonl(run("diff", str(a), str(b), "-f", "jsonl").stdout)
    differing = [p for p in pairs if not p["identical"]]
    assert [(p["step"], p.get("epoch_end"), p["first_at"]) for p in differing] == [
        (4, 2, "val_accuracy")
    ]
    assert sum("epoch_end" in p for p in pairs) == 4


def test_a_regression_table_has_no_accuracy_and_a_gap_in_ulps(tmp_path):
    """On a regression table: no accuracy columns, --tol on the held-out loss; with torch's
    fused Adam against the hand-written rule, the gap and its ULPs."""
    rows = [f"{i % 7 / 7},{i % 5 / 5},{2 * (i % 7) / 7 - (i % 5) / 5}" for i in range(120)]
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    args = ["compare", "--data", str(table), "--target", "y", "--model", "linear"]
    args += ["--batch-size", "32", "--epochs", "2", "-o", "sgd", "-o", "adam"]
    result = run(*args, "--impl", "fused", "--device", "cpu", "--tol", "1e9", "-f", "table")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    lines = lines[lines.index("manual vs torch.optim") :]  # (below the run's header)
    header = lines[2].split("   ")
    assert [h.strip() for h in header if h.strip()] == [
        "optimizer",
        "lr",
        "train loss",
        "val loss",
        "epochs to 1e+09",
        "manual vs optim",
    ]
    sgd, adam = lines[4], lines[5]
    assert sgd.split()[4] == adam.split()[4] == "1"  # any loss is under 1e9 after epoch 1
    assert sgd.endswith("identical")  # (no fused SGD on the CPU: the for-loop on both)
    assert adam.endswith(" ULPs") or adam.endswith("identical")
    assert "val loss is ≤ 1e+09" in result.stdout
