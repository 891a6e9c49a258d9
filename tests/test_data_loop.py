"""The mini-batch loop (``--data``): batches from a seeded DataLoader, epochs, held-out data.

The claims: manual == optim byte for byte, batch by batch, for any optimizer and batching;
gradcli's run is the loop a user writes by hand with the same DataLoader, bit for bit;
resuming in the middle of an epoch gives the bytes of the uninterrupted run; ``--epochs`` and
``--steps`` follow one rule; bad combinations are one line, exit 2.
"""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.data import Request, load
from tests.helpers import jsonl

SMALL = ("--data", "digits", "--val-fraction", "0.5", "--format", "jsonl")
RUNNER = CliRunner()


def run(*args: str):
    return RUNNER.invoke(app, list(args), env={"COLUMNS": "100"})


def records(out: str) -> tuple[list[dict], list[dict]]:
    """Step objects and end-of-epoch objects of a run's JSON lines."""
    objects = jsonl(out)
    return [o for o in objects if "epoch_end" not in o], [o for o in objects if "epoch_end" in o]


def test_manual_equals_optim_on_batches():
    """The fast lane's check of the property below: one shuffled, mini-batched run."""
    args = [*SMALL, "-m", "mlp", "-o", "adam", "--batch-size", "100", "--steps", "12"]
    optim, manual = run("optim", *args), run("manual", *args)
    assert optim.exit_code == 0 and optim.stdout == manual.stdout
    assert optim.stderr == manual.stderr


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(
    optimizer=st.sampled_from(
        [
            "sgd",
            "SGD(lr=0.1, momentum=0.9, nesterov=True)",
            "adam",
            "AdamW(lr=0.01, amsgrad=True)",
            "rmsprop",
            "adagrad",
            "nadam",
            "rprop",
            "lbfgs",
        ]
    ),
    batch_size=st.sampled_from([1, 7, 64, 300, 1000]),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    model=st.sampled_from(["linear", "mlp"]),
    steps=st.integers(1, 6),
)
def test_manual_and_optim_draw_the_same_batches_and_agree_byte_for_byte(
    optimizer, batch_size, shuffle, drop_last, model, steps
):
    assume(not (drop_last and batch_size > 899))  # (refused: every batch dropped)
    args = [
        *SMALL,
        "-m",
        model,
        "-o",
        optimizer,
        "--batch-size",
        str(batch_size),
        "--steps",
        str(steps),
        "--shuffle" if shuffle else "--no-shuffle",
    ]
    args += ["--drop-last"] * drop_last
    optim, manual = run("optim", *args), run("manual", *args)
    assert optim.exit_code == 0, optim.stderr
    assert manual.exit_code == 0, manual.stderr
    assert optim.stdout == manual.stdout
    steps_seen, _ = records(optim.stdout)
    batches = 899 // batch_size if drop_last else -(-899 // batch_size)  # 1797 - 898 held out
    for record in steps_seen[1:]:
        assert (record["epoch"] - 1) * batches + record["batch"] == record["step"]


def plain_loop(epochs: int, batch_size: int) -> tuple[nn.Module, float, list[float]]:
    """What a user writes: the same split, model, DataLoader and Adam, by hand."""
    data = load(Request("digits"))
    torch.manual_seed(0)
    model = nn.Sequential(
        OrderedDict(
            [
                ("flatten", nn.Flatten()),
                ("hidden1", nn.Linear(64, 64)),
                ("relu1", nn.ReLU()),
                ("hidden2", nn.Linear(64, 64)),
                ("relu2", nn.ReLU()),
                ("output", nn.Linear(64, 10)),
            ]
        )
    )
    loader = DataLoader(
        TensorDataset(data.x_train.float(), data.y_train),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            losses.append(loss.item())
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        right = (model(data.x_val.float()).argmax(dim=1) == data.y_val).double().mean().item()
    return model, right, losses


@pytest.mark.slow
def test_the_digits_run_is_the_plain_loop_bit_for_bit_and_reaches_its_accuracy():
    """The issue's done-when run: 5 epochs of batches of 64 on digits with a 64-64-10 MLP."""
    args = [
        "--data",
        "digits",
        "--model",
        "mlp",
        "--batch-size",
        "64",
        "--epochs",
        "5",
        "-o",
        "Adam(lr=0.01)",
        "-f",
        "jsonl",
    ]
    result = run("optim", *args)
    assert result.exit_code == 0, result.stderr
    steps, epochs = records(result.stdout)
    model, accuracy, losses = plain_loop(5, 64)
    assert [s["loss"] for s in steps[1:]] == losses  # every batch's loss, bit for bit
    final = {name: p for name, p in model.named_parameters()}
    for name, p in steps[-1]["params"].items():
        assert p["value"]["max"] == final[name].max().item()
        assert p["value"]["min"] == final[name].min().item()
    assert len(epochs) == 5 and epochs[-1]["val_accuracy"] == accuracy
    assert accuracy > 0.9  # a 64-64-10 ReLU MLP gets about 94% on a 20% split
    assert f"accuracy {accuracy:.1%}" in result.stderr
    manual = run("manual", *args)
    assert manual.stdout == result.stdout


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(
    cut=st.integers(1, 11),
    path=st.sampled_from(["optim", "manual"]),
    schedule=st.sampled_from(
        [
            [],
            ["--schedule", "StepLR(step_size=3, gamma=0.5)"],
            ["--schedule", "StepLR(step_size=1, gamma=0.5)", "--schedule-per", "epoch"],
            ["--schedule", "ReduceLROnPlateau(patience=0)", "--schedule-per", "epoch"],
        ]
    ),
)
def test_resuming_in_the_middle_of_an_epoch_gives_the_bytes_of_the_whole_run(
    cut, path, schedule, tmp_path_factory
):
    folder = tmp_path_factory.mktemp("resume")
    ck = str(folder / "ck.pt")
    args = [*SMALL, "-m", "mlp", "-o", "adam", "--batch-size", "300", *schedule]
    whole = run(path, *args, "--steps", "12")
    first = run(path, *args, "--steps", str(cut), "--save", ck)
    rest = run(path, "--resume", ck, "--steps", str(12 - cut), "-f", "jsonl", *schedule)
    assert whole.exit_code == first.exit_code == 0, first.stderr
    assert rest.exit_code == 0, rest.stderr
    assert first.stdout + rest.stdout == whole.stdout


def test_epochs_make_the_steps_and_each_epoch_ends_with_its_evaluation():
    result = run("optim", *SMALL, "--batch-size", "300", "--epochs", "2")
    assert result.exit_code == 0, result.stderr
    steps, epochs = records(result.stdout)
    assert [s["step"] for s in steps] == list(range(7))  # 899 samples: 3 batches an epoch
    assert [(s["epoch"], s["batch"]) for s in steps[1:]] == [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 1),
        (2, 2),
        (2, 3),
    ]
    assert [(e["epoch_end"], e["step"]) for e in epochs] == [(1, 3), (2, 6)]
    for e in epochs:
        assert 0 <= e["val_accuracy"] <= 1 and e["val_loss"] > 0 and e["train_loss"] > 0
    # the summary on stderr: the epochs, the training loss and the held-out numbers
    assert "6 steps (2 epochs)" in result.stderr and "held out: loss" in result.stderr
    # the end-of-epoch object follows its epoch's last step
    objects = jsonl(result.stdout)
    assert [("epoch_end" in o) for o in objects] == [
        False,
        False,
        False,
        False,
        True,
        False,
        False,
        False,
        True,
    ]


def test_the_training_loss_of_an_epoch_is_the_mean_of_its_batches_losses():
    result = run("optim", *SMALL, "--batch-size", "300", "--epochs", "1")
    steps, (epoch,) = records(result.stdout)
    sizes = [300, 300, 299]
    mean = sum(s["loss"] * n for s, n in zip(steps[1:], sizes, strict=True)) / 899
    assert epoch["train_loss"] == pytest.approx(mean, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--steps", "5", "--epochs", "2"],
            "--steps 5 and --epochs 2 disagree: 2 epochs of 3 batches are 6 steps; give one "
            "of them",
        ),
        (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be an integer >= 1, got 0"),
        (["--val-fraction", "1"], "--val-fraction must be a number in [0, 1), got 1.0"),
        (["--loss", "hinge"], "--loss: unknown loss 'hinge'; choose one of: cross-entropy, mse"),
        (
            ["--schedule-per", "week"],
            "--schedule-per: unknown schedule_per 'week'; choose one of: batch, epoch",
        ),
        (
            ["-m", "seed"],
            "--model: unknown model 'seed'; choose one of: linear, mlp, cnn, module:factory",
        ),
        (
            ["--batch-size", "5000", "--drop-last"],
            "--batch-size 5000 with --drop-last: digits has 899 training samples, so every batch "
            "would be dropped; choose a smaller --batch-size",
        ),
        (
            ["--target", "y"],
            "--target y: only a table (--data FILE.csv) has columns to choose; --data digits has "
            "its own labels",
        ),
    ],
)
def test_bad_data_options_are_one_line_and_exit_2(args, message):
    result = run("optim", *SMALL, "--batch-size", "300", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"gradcli: error: {message}\n"


@pytest.mark.parametrize(
    "option",
    [
        ["--batch-size", "8"],
        ["--epochs", "2"],
        ["--no-shuffle"],
        ["--drop-last"],
        ["--val-fraction", "0.1"],
        ["--data-seed", "3"],
        ["--loss", "mse"],
    ],
)
def test_data_options_without_data_are_refused(option):
    result = run("optim", *option)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"gradcli: error: {option[0]} applies with --data only")


def test_unknown_data_set_names_the_choices():
    result = run("optim", "--data", "cifar")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "gradcli: error: --data cifar: unknown data set; choose one of: digits, mnist, "
        "fashion-mnist, or a table FILE.csv with --target COLUMN\n"
    )


def test_data_seed_moves_the_split_and_the_batches_and_seed_only_the_parameters():
    base = [*SMALL, "--batch-size", "300", "--steps", "1"]
    a, b, c = (
        run("optim", *base),
        run("optim", *base, "--seed", "1"),
        run("optim", *base, "--data-seed", "1"),
    )
    (a0, a1), (b0, _), (c0, c1) = (records(r.stdout)[0] for r in (a, b, c))
    assert a0["params"] != b0["params"] and a0["params"] == c0["params"]  # initial parameters
    assert a1["loss"] != c1["loss"]  # another batch


def test_no_held_out_data_with_val_fraction_0():
    result = run(
        "optim",
        *SMALL[:2],
        "--val-fraction",
        "0",
        "--batch-size",
        "900",
        "--epochs",
        "1",
        "-f",
        "jsonl",
    )
    _, (epoch,) = records(result.stdout)
    assert epoch["val_loss"] is None and epoch["val_accuracy"] is None
    assert "held out" not in result.stderr


def test_a_cnn_trains_on_images():
    result = run("manual", *SMALL, "-m", "cnn", "-o", "adam", "--batch-size", "450", "--steps", "2")
    assert result.exit_code == 0, result.stderr
    steps, _ = records(result.stdout)
    assert list(steps[0]["params"]) == [
        "conv1.weight",
        "conv1.bias",
        "conv2.weight",
        "conv2.bias",
        "output.weight",
        "output.bias",
    ]
    assert steps[0]["params"]["output.weight"]["shape"] == [10, 32 * 2 * 2]


def test_a_users_factory_takes_batches(tmp_path):
    (tmp_path / "net.py").write_text(
        "import torch\n"
        "def build():\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))\n"
        "def wrong():\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))\n"
    )
    ok = run(
        "optim", *SMALL, "-m", f"{tmp_path}/net.py:build", "--batch-size", "450", "--steps", "2"
    )
    assert ok.exit_code == 0, ok.stderr
    assert list(records(ok.stdout)[0][0]["params"]) == ["1.weight", "1.bias"]
    bad = run("optim", *SMALL, "-m", f"{tmp_path}/net.py:wrong", "--steps", "1")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr == (
        f"gradcli: error: --model {tmp_path}/net.py:wrong: forward(x) on a batch of 2 inputs "
        "of shape [1, 8, 8] returned shape [2, 3]; digits needs [2, 10] (one output per 10 "
        "classes)\n"
    )


def test_csv_output_has_the_data_columns_and_an_epoch_row():
    result = run(
        "optim", *SMALL[:4], "-f", "csv", "--batch-size", "900", "--epochs", "1", "-m", "linear"
    )
    lines = result.stdout.splitlines()
    header = lines[0].split(",")
    assert header[-5:] == ["epoch", "batch", "train_accuracy", "val_loss", "val_accuracy"]
    epoch_row = lines[-1].split(",")
    assert len(epoch_row) == len(header)
    step_0, step_1 = lines[1].split(","), lines[3].split(",")  # two parameters a step
    assert step_0[0] == "0" and step_0[-5:] == ["", "", "", "", ""]  # before any batch
    assert step_1[0] == "1" and step_1[-5:] == ["1", "1", "", "", ""]
    assert epoch_row[0] == "1" and epoch_row[2] == "" and epoch_row[-5] == "1"
    assert (
        float(epoch_row[-1])
        == json.loads(
            run(
                "optim", *SMALL, "--batch-size", "900", "--epochs", "1", "-m", "linear"
            ).stdout.splitlines()[-1]
        )["val_accuracy"]
    )


def test_the_table_shows_the_data_the_batches_and_each_epoch():
    result = run(
        "optim", *SMALL[:4], "-f", "table", "--batch-size", "300", "--epochs", "2", "--every", "3"
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "data digits: 899 training / 898 held-out samples" in out
    assert "batches of 300, 3 per epoch, shuffled · 2 epochs · cross-entropy" in out
    assert "step 3/6 · epoch 1 batch 3" in out
    assert "epoch 1 (step 3)   training loss" in out and "epoch 2 (step 6)" in out
    assert "val accuracy" in out and result.stderr == ""


def linear_table(path, rows: int = 200) -> None:
    """y = 2a − 3b + 0.5c + 1 + noise 0.1, columns of different scales."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(rows, 3, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 3, 10])
    y = x @ torch.tensor([2.0, -3, 0.5], dtype=torch.float64) + 1
    y += 0.1 * torch.randn(rows, generator=gen, dtype=torch.float64)
    lines = [
        "a,b,c,y",
        *(",".join(map(repr, [*r.tolist(), t])) for r, t in zip(x, y.tolist(), strict=False)),
    ]
    path.write_text("\n".join(lines) + "\n")


def test_a_csv_with_a_linear_relation_is_learned_to_the_least_squares_answer(tmp_path):
    """Full batch, float64, LBFGS: the fit reaches lstsq on the standardised training rows.
    LBFGS stops once the loss changes by less than its tolerance_change 1e-9; near the
    optimum the loss exceeds its least by ½·ΔᵀHΔ with H ≈ 2·I (standardised columns), so the
    parameters are then within about sqrt(1e-9) ≈ 3e-5 of it: 1e-4 allows for that."""
    table = tmp_path / "linear.csv"
    linear_table(table)
    result = run(
        "optim",
        "--data",
        str(table),
        "--target",
        "y",
        "-o",
        "LBFGS(lr=1)",
        "--steps",
        "10",
        "--dtype",
        "float64",
        "-f",
        "table",
    )
    assert result.exit_code == 0, result.stderr
    assert "regression; inferred" in result.stdout and "least squares" in result.stdout
    learned = records(
        run(
            "optim",
            "--data",
            str(table),
            "--target",
            "y",
            "-o",
            "LBFGS(lr=1)",
            "--steps",
            "10",
            "--dtype",
            "float64",
            "-f",
            "jsonl",
        ).stdout
    )[0][-1]["params"]
    data = load(Request(str(table), "y"))
    x = torch.cat([data.x_train, torch.ones(len(data.x_train), 1, dtype=torch.float64)], 1)
    solution = torch.linalg.lstsq(x, data.y_train).solution.squeeze(1)
    assert learned["linear.weight"]["value"] == pytest.approx(solution[:3].tolist(), abs=1e-4)
    assert learned["linear.bias"]["value"] == pytest.approx(solution[3:].tolist(), abs=1e-4)
    # and in the original units: y = 2a − 3b + 0.5c + 1 within what the noise allows
    raw = torch.tensor(
        [[float(v) for v in line.split(",")] for line in table.read_text().splitlines()[1:]],
        dtype=torch.float64,
    )
    mean, std = (
        raw[:, :3][_train_rows(data, raw)].mean(0),
        raw[:, :3][_train_rows(data, raw)].std(0),
    )
    weights = solution[:3] / std
    assert weights.tolist() == pytest.approx([2.0, -3.0, 0.5], abs=0.02)
    assert (solution[3] - (weights * mean).sum()).item() == pytest.approx(1.0, abs=0.05)


def _train_rows(data, raw) -> torch.Tensor:
    """Which rows of the file are the training rows (the split drawn with --data-seed 0)."""
    order = torch.randperm(len(raw), generator=torch.Generator().manual_seed(0))
    return order[round(len(raw) * 0.2) :]


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("a,b,y\n1,2,3\n", ["--target", "z"], "has no such column; its columns: a, b, y"),
        ("a,b,y\n1,x,3\n2,2,2\n", ["--target", "y"], "line 2, column 'b'"),
        ("", ["--target", "y"], "empty"),
    ],
)
def test_bad_csvs_are_one_line_and_exit_2(tmp_path, text, args, message):
    table = tmp_path / "bad.csv"
    table.write_text(text)
    result = run("optim", "--data", str(table), *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("gradcli: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--loss", "cross-entropy"],
        ["--loss", "mse"],
        ["--schedule", "StepLR(step_size=1)", "--schedule-per", "batch"],
        ["--schedule", "StepLR(step_size=1)", "--schedule-per", "epoch"],
        ["-m", "linear"],
        ["-m", "mlp"],
        ["-m", "cnn"],
    ],
)
def test_every_data_choice_the_help_lists_is_accepted(args):
    result = run("optim", *SMALL, "--batch-size", "900", "--steps", "1", *args)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_table_takes_either_task(tmp_path, task):
    table = tmp_path / "t.csv"
    table.write_text("a,y\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    result = run("optim", "--data", str(table), "--target", "y", "--task", task, "--steps", "1")
    assert result.exit_code == 0, result.stderr
    steps, _ = records(result.stdout)
    outputs = 3 if task == "classification" else 1
    assert steps[0]["params"]["linear.weight"]["shape"] == [outputs, 1]


@pytest.mark.slow
def test_a_run_stopped_by_its_models_failure_resumes_with_the_batch_it_failed_on(tmp_path):
    """The checkpoint written when the user's forward(x) raises in step 5 holds the steps
    done (4) and gives back the batch step 5 took, so going on repeats the whole run."""
    (tmp_path / "flaky.py").write_text(
        "import pathlib, torch\n"
        "MARK = pathlib.Path(__file__).with_name('fail')\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.linear = torch.nn.Linear(64, 10)\n"
        "        self.calls = 0\n"
        "    def forward(self, x):\n"
        "        if torch.is_grad_enabled():\n"
        "            self.calls += 1\n"
        "            if self.calls == 5 and MARK.exists():\n"
        "                raise ValueError('flaky')\n"
        "        return self.linear(x.flatten(1))\n"
        "def build():\n"
        "    return Net()\n"
    )
    model = f"{tmp_path}/flaky.py:build"
    args = [*SMALL, "-m", model, "-o", "adam", "--batch-size", "300", "--steps", "8"]
    whole = run("optim", *args)
    (tmp_path / "fail").touch()
    ck = str(tmp_path / "ck.pt")
    failed = run("optim", *args, "--save", ck)
    assert failed.exit_code == 2
    assert "step 5: forward() or backward() raised ValueError: flaky" in failed.stderr
    (tmp_path / "fail").unlink()
    rest = run("optim", "--resume", ck, "-m", model, "--steps", "4", "-f", "jsonl")
    assert rest.exit_code == 0, rest.stderr
    assert failed.stdout + rest.stdout == whole.stdout


@pytest.mark.parametrize("path", ["optim", "manual"])
def test_show_code_shows_the_dataloader_loop(path):
    result = run(
        path,
        *SMALL[:4],
        "--batch-size",
        "300",
        "--steps",
        "4",
        "--show-code",
        "--data-seed",
        "7",
        "-f",
        "table",
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "batch_size=300," in out and "generator=torch.Generator().manual_seed(7)" in out
    assert "    for x, y in loader:" in out
    assert "F.cross_entropy(model(x), y)" in out and "F.cross_entropy(model(x_val), y_val)" in out
    assert "if step == 4:" in out  # 4 steps: one epoch of 3 batches and one batch more
    assert "for epoch in range(1, 3):" in out


@pytest.mark.parametrize(
    ("batch_size", "drop_last"), [(32, False), (32, True), (30, True), (25, False)]
)
def test_the_feed_takes_the_batches_of_a_for_loop_over_the_loader_epoch_after_epoch(
    batch_size, drop_last
):
    """The batches of three epochs are those of ``for x, y in loader`` with the same seeded
    generator, also where a shuffling sampler draws once more at the end of an epoch (the
    batch size divides the samples, or the last batch is dropped): the feed finishes each
    epoch's iteration as the for loop does."""
    from gradcli.data import DataSet
    from gradcli.data.feed import Feed

    x = torch.arange(96, dtype=torch.float64).reshape(96, 1)
    y = torch.zeros(96, dtype=torch.int64)
    data = DataSet("t", x, y, None, None, "classification", 2, "none")
    feed = Feed(
        data,
        batch_size=batch_size,
        shuffle=True,
        drop_last=drop_last,
        data_seed=3,
        loss=None,
        dtype=torch.float64,
        device=torch.device("cpu"),
    )
    taken = []
    for _ in range(3 * feed.batches):
        feed.next()
        taken.append(feed.x_batch.reshape(-1).tolist())
    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=batch_size,
        shuffle=True,
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(3),
    )
    assert taken == [xb.reshape(-1).tolist() for _ in range(3) for xb, _ in loader]
