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


@pytest.mark.slow
@pytest.mark.parametrize("args", RUNS, ids=lambda args: " ".join(args))
def test_the_script_under_torchrun_prints_what_gradcli_ddp_prints(invoke, tmp_path, args):
    printed = invoke("ddp", *args, "--print-script")
    assert printed.exit_code == 0, printed.stderr
    assert printed.stderr == ""
    script = tmp_path / "script.py"
    script.write_text(printed.stdout)
    lint([script])
    imports = [line for line in printed.stdout.splitlines() if line.startswith(("import", "from"))]
    assert not any("gradcli" in line for line in imports)
    ran = torchrun(script)
    assert ran.returncode == 0, ran.stderr
    gradcli = run(*args, "-f", "jsonl")
    assert gradcli.returncode == 0, gradcli.stderr
    assert ran.stdout == gradcli.stdout


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
