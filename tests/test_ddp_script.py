"""``gradcli ddp --print-script``: a plain PyTorch script that, started with torchrun on two
CPU processes, prints what ``gradcli ddp`` prints on stdout, byte for byte; it passes ruff
with the project's rules and imports nothing of gradcli. What it cannot repeat is refused
in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.helpers import unshrunk
from tests.test_ddp import run
from tests.test_script import lint

# A data-owning model of one's own, as gradcli ddp takes it: it shards itself.
OWN_MODEL = """
import torch
from torch import nn


class Line(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("x", torch.linspace(-1, 1, 12).unsqueeze(1))
        self.register_buffer("y", 3 * self.x - 1)
        self.fit = nn.Linear(1, 1)

    def forward(self):
        return ((self.fit(self.x) - self.y) ** 2).mean()

    def samples(self):
        return len(self.x)

    def shard(self, rank, world):
        self.x = self.x.chunk(world)[rank].clone()
        self.y = self.y.chunk(world)[rank].clone()


def build():
    return Line()
"""


TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def torchrun(script: Path, world: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*TORCHRUN, "--nproc-per-node", str(world), "--standalone", str(script)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=script.parent,
    )


RUNS = [
    ["--path", "manual", "--steps", "3"],
    ["--path", "ddp", "--steps", "3"],
    [
        *("--path", "ddp", "-m", "mlp", "-o", "adam", "--steps", "4", "--every", "3"),
        *("--clip-norm", "0.5", "--schedule", "StepLR(step_size=1, gamma=0.5)"),
    ],
    [
        *("--path", "manual", "-m", "mlp", "-o", "SGD(momentum=0.9, nesterov=True)"),
        *("--steps", "3", "--clip-value", "0.1"),
        *("--schedule", "OneCycleLR(max_lr=0.1, total_steps=3)"),
    ],
    ["--path", "manual", "-m", "mlp", "-o", "muon", "--steps", "2"],
    # the lr falls at steps 4 and 5: ReduceLROnPlateau fed the mean loss over the ranks
    [
        *("--path", "ddp", "--lr", "1", "--steps", "6"),
        *("--schedule", "ReduceLROnPlateau(patience=0, factor=0.5)"),
    ],
]


def same_run(invoke, folder: Path, args: list[str], world: int = 2) -> str:
    """The script of ``gradcli ddp ARGS`` passes ruff and imports nothing of gradcli; under
    torchrun on ``world`` processes it prints what ``gradcli ddp --nproc world ARGS -f jsonl``
    prints, byte for byte (returned)."""
    args = ["--nproc", str(world), *args]
    printed = invoke("ddp", *args, "--print-script")
    assert printed.exit_code == 0, printed.stderr
    assert printed.stderr == ""
    script = folder / "script.py"
    script.write_text(printed.stdout)
    lint([script])
    imports = [line for line in printed.stdout.splitlines() if line.startswith(("import", "from"))]
    assert not any("gradcli" in line for line in imports)
    ran = torchrun(script, world)
    assert ran.returncode == 0, ran.stderr
    gradcli = run(*args, "-f", "jsonl")
    assert gradcli.returncode == 0, gradcli.stderr
    assert ran.stdout == gradcli.stdout
    return ran.stdout


@pytest.mark.slow
@pytest.mark.parametrize("args", RUNS, ids=lambda args: " ".join(args))
def test_the_script_under_torchrun_prints_what_gradcli_ddp_prints(invoke, tmp_path, args):
    same_run(invoke, tmp_path, args)


@st.composite
def micro_batches_and_mixed_precision(draw) -> list[str]:
    """A run with --accumulate K and --amp bf16 or fp16 (or neither), on either path."""
    args = ["--path", draw(st.sampled_from(["manual", "ddp"]))]
    args += ["-m", draw(st.sampled_from(["linear", "mlp"]))]
    args += ["-o", draw(st.sampled_from(["sgd", "adam", "SGD(momentum=0.9)", "rmsprop"]))]
    args += ["--steps", str(draw(st.integers(1, 4))), "--every", str(draw(st.integers(1, 2)))]
    args += ["--accumulate", str(draw(st.sampled_from([1, 2, 4])))]
    amp = draw(st.sampled_from([None, "bf16", "fp16"]))
    if amp is not None:
        args += ["--amp", amp]
    if amp == "fp16":  # (1e38: every step skipped; 32768: the first two, as in docs/ddp.md)
        args += ["--loss-scale", draw(st.sampled_from(["65536", "32768", "1e38"]))]
    return args


# No shrinking: each example starts two sets of processes (its arguments are printed).
@pytest.mark.slow
@unshrunk(2)
@given(args=micro_batches_and_mixed_precision())
@example(
    [
        *("--path", "ddp", "-m", "mlp", "-o", "adam", "--steps", "3", "--every", "2"),
        *("--accumulate", "4", "--amp", "fp16", "--loss-scale", "32768"),
    ]
)
@example(["--path", "manual", "--steps", "3", "--accumulate", "2", "--amp", "bf16"])
def test_micro_batches_and_mixed_precision_are_the_same_run(invoke, tmp_path_factory, args):
    """--accumulate K (no_sync() for K − 1 micro-batches on the ddp path; the all-reduce
    once, after the last, on the manual path), --amp bf16 (autocast) and fp16 (and the
    gradient scaler: skipped steps and all), each rank's own gradient and micro-batches
    in the log as gradcli measures them."""
    print(args)
    lines = same_run(invoke, tmp_path_factory.mktemp("ddp"), args).splitlines()
    assert all('"all_reduces":1' in line for line in lines[1:])  # once an update


CSV = "a,b,target\n" + "".join(f"{i % 7 / 7},{i % 5 / 5},{(i * 37) % 11 / 11}\n" for i in range(61))

DATA_RUNS = [
    # classes, held-out data, ReduceLROnPlateau fed each step's mean loss over the ranks;
    # 2 micro-batches an update (no_sync() for the first) and the gradient scaler
    (
        2,
        [
            *("--path", "ddp", "--data", "digits", "-m", "mlp", "-o", "adam"),
            *("--batch-size", "128", "--epochs", "2", "--every", "5"),
            *("--schedule", "ReduceLROnPlateau(patience=0)", "--accumulate", "2"),
            *("--amp", "fp16"),
        ],
    ),
    # a regression on 3 ranks: no shuffling, the sampler's tail and each rank's last,
    # smaller batch dropped, the lr scheduled once an epoch
    (
        3,
        [
            *("--path", "manual", "--data", "rows.csv", "--target", "target", "-m", "mlp"),
            *("-o", "SGD(lr=0.01, momentum=0.9)", "--batch-size", "5", "--epochs", "2"),
            "--drop-last",
            *("--no-shuffle", "--schedule", "StepLR(step_size=1, gamma=0.5)"),
            *("--schedule-per", "epoch"),
        ],
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("world", "args"), DATA_RUNS, ids=["digits-ddp", "csv-manual-3"])
def test_a_run_on_data_is_the_same_run(invoke, tmp_path, monkeypatch, world, args):
    """--data: each rank's batches from a DistributedSampler (set_epoch each epoch), the
    epoch's sums and the held-out evaluation added over the ranks, rank 0 printing the end
    of each epoch as gradcli ddp does."""
    (tmp_path / "rows.csv").write_text(CSV)
    monkeypatch.chdir(tmp_path)
    lines = same_run(invoke, tmp_path, args, world).splitlines()
    assert sum('"epoch_end"' in line for line in lines) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "world", "says"),
    [  # as gradcli ddp --nproc 3 refuses linear's 64 samples
        (
            ["--steps", "1"],
            3,
            "the 64 samples do not split evenly; start it on a number of processes that "
            "divides them evenly",
        ),
        (  # (--data: a sampler deals any number, but the script's epochs count 3 ranks')
            ["--nproc", "3", "--data", "digits", "-m", "linear", "--epochs", "1"],
            2,
            "this script deals the batches among 3 processes (its epochs count theirs); "
            "start it on 3",
        ),
    ],
    ids=["samples", "data"],
)
def test_a_world_the_script_cannot_run_on_is_one_line_and_exit_2(
    invoke, tmp_path, args, world, says
):
    printed = invoke("ddp", *args, "--print-script")
    script = tmp_path / "script.py"
    script.write_text(printed.stdout)
    ran = torchrun(script, world)
    assert ran.returncode != 0 and ran.stdout == ""
    said = f"{script}: error: {world} processes (--nproc-per-node): {says}"
    assert [line for line in ran.stderr.splitlines() if "error: " in line] == [said]


@pytest.mark.slow
def test_a_model_of_ones_own_is_imported_and_shards_itself(invoke, tmp_path, monkeypatch):
    (tmp_path / "line.py").write_text(textwrap.dedent(OWN_MODEL))
    monkeypatch.chdir(tmp_path)
    args = ["--path", "ddp", "-m", "line.py:build", "--lr", "0.1", "--steps", "3"]
    printed = invoke("ddp", *args, "--print-script")
    assert printed.exit_code == 0, printed.stderr
    assert "model.shard(rank, world)" in printed.stdout
    script = tmp_path / "script.py"
    script.write_text(printed.stdout)
    lint([script])
    ran = torchrun(script)
    assert ran.returncode == 0, ran.stderr
    gradcli = subprocess.run(
        [sys.executable, "-m", "gradcli", "ddp", *args, "-f", "jsonl"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert gradcli.returncode == 0, gradcli.stderr
    assert ran.stdout == gradcli.stdout


@pytest.mark.parametrize("path", ["manual", "ddp"])
def test_the_script_is_the_paths_loop_with_a_ranks_lines(invoke, path):
    """What a reader finds where: the group joined before the model is built, the shard
    taken after DDP wraps the model, the averaging right after backward(), rank 0 alone
    printing (in its log); and the same run printed twice is the same text."""
    printed = invoke("ddp", "--path", path, "--steps", "2", "--print-script")
    assert printed.exit_code == 0, printed.stderr
    text = printed.stdout
    assert text == invoke("ddp", "--path", path, "--steps", "2", "--print-script").stdout
    assert text.startswith('"""This gradcli ddp run as a plain PyTorch script:\n\n')
    assert f"    gradcli ddp --nproc 2 --path {path} -m linear -o sgd --steps 2\n" in text
    assert "    torchrun --nproc-per-node 2 script.py\n" in text
    start = ['dist.init_process_group("gloo")', "model = LinearRegression()"]
    if path == "ddp":
        order = [*start, "ddp_model = DistributedDataParallel(model, ", "chunk(world)[rank]"]
        order += ["    loss = ddp_model()\n", "loss.backward()"]
        order += ["own_loss = model()", "torch.autograd.grad(own_loss, params)"]
    else:
        order = [*start, "chunk(world)[rank]", "    loss = model()\n", "loss.backward()"]
        order += ["dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)", "p.grad.div_(world)"]
        assert "DistributedDataParallel" not in text
    order += [
        "optimizer.step()" if path == "ddp" else "\n        sgd(\n",
        "\ndist.destroy_process_group()",
    ]
    places = [text.index(line) for line in order]
    assert places == sorted(places)
    log = text[text.index("\ndef log(") : text.index("\ndef gather(")]
    assert "    everyone = gather(step, loss)\n    if rank == 0:\n" in log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "table"], "--print-script: a script prints JSON lines (--format table)"),
        (["--plot-file", "run.png"], "a script draws no figure; leave --plot-file out"),
        (["-m", "seed"], "--model seed has no data to shard across workers"),
    ],
)
def test_what_cannot_be_a_script_is_one_line(invoke, args, message):
    result = invoke("ddp", *args, "--print-script")
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


@pytest.mark.parametrize("path", ["manual", "ddp"])
def test_reduce_lr_on_plateau_is_fed_the_mean_loss_over_the_ranks(invoke, path):
    """As gradcli feeds it (``schedule_loss``), so that every rank keeps one lr."""
    schedule = "ReduceLROnPlateau(patience=0)"
    printed = invoke("ddp", "--path", path, "--schedule", schedule, "--print-script")
    assert printed.exit_code == 0, printed.stderr
    assert "    scheduler.step(mean_over_ranks(loss.item()))\n" in printed.stdout
    assert "scheduler.step(loss.item())" not in printed.stdout
    assert "    dist.all_reduce(value, op=dist.ReduceOp.SUM)\n" in printed.stdout


@pytest.mark.parametrize("k", [1, 2])
def test_a_script_on_data_deals_the_batches_by_a_distributed_sampler(invoke, k):
    """Where a reader finds a rank's lines in the data loop: the sampler under the loader,
    DDP's wrapper, set_epoch before each epoch's batches, DDP's forward (under no_sync() for
    all but the last micro-batch), the epoch's sums added over the ranks before the held-out
    data is evaluated (each rank its share, the sums added), rank 0 alone printing the
    epoch."""
    args = ["--data", "digits", "-m", "mlp", "--batch-size", "180", "--epochs", "1"]
    printed = invoke("ddp", "--path", "ddp", *args, "--accumulate", str(k), "--print-script")
    assert printed.exit_code == 0, printed.stderr
    text = printed.stdout
    forward = "outputs = ddp_model(x_batch)"
    order = [
        "    x, y = x.tensor_split(world)[rank], y.tensor_split(world)[rank]\n",
        'dist.init_process_group("gloo")',
        "sampler = DistributedSampler(\n",
        "    sampler=sampler,\n",
        "ddp_model = DistributedDataParallel(model)\n",
        "    sampler.set_epoch(epoch - 1)",
        *(["with ddp_model.no_sync() if i < len(window) - 1 else nullcontext():"] if k > 1 else []),
        forward,
        "    dist.all_reduce(sums, op=dist.ReduceOp.SUM)\n"
        "    loss_sum, right, seen = sums.tolist()",
        "    val_loss, val_accuracy = evaluate(model, x_val, y_val)",
        "    if rank == 0:  # (rank 0 alone prints)\n"
        '        print(json.dumps(line, separators=(",", ":")))',
        "\ndist.destroy_process_group()",
    ]
    places = [text.index(line) for line in order]
    assert places == sorted(places)
    assert "samples % world" not in text  # (a sampler deals any number of samples)
    assert text.count(forward) == 1  # (a rank's own gradient: the model itself, not DDP's)


@pytest.mark.slow
@pytest.mark.parametrize("unset", ["RANK", "MASTER_ADDR"])
def test_a_script_started_without_torchrun_is_one_line_and_exit_2(invoke, tmp_path, unset):
    """``python script.py``, not under torchrun (or with one of what torchrun sets missing):
    one line naming how to start it, no traceback from init_process_group()."""
    printed = invoke("ddp", "--steps", "1", "--print-script")
    script = tmp_path / "script.py"
    script.write_text(printed.stdout)
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}
    env.update(MASTER_PORT="29599")
    del env[unset]
    ran = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert (ran.returncode, ran.stdout) == (2, "")
    assert ran.stderr == (
        f"{script}: error: {unset} is not set: start this script with torchrun, "
        f"as torchrun --nproc-per-node 2 {script}\n"
    )
