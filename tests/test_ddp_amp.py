"""gradcli ddp --amp bf16|fp16: each rank's forward under autocast; with fp16 a GradScaler per
rank on the DDP path and the hand-written scaler on the manual path. The gradients are
all-reduced while still scaled, so an inf on one rank reaches every rank, and every rank
skips the same steps."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
import torch

from gradcli.ddp.options import DdpOptions
from gradcli.ddp.worker import _unscaled, worker
from gradcli.spec import RunSpec
from gradcli.train.loss_scaling import HandScaler
from tests.helpers import jsonl
from tests.test_ddp import left_behind, run

# the fields a ddp record shares with optim's and manual's
SHARED = ("step", "loss", "lr", "scale", "skipped", "params", "micro_losses", "micro_grad_norms")


def one_rank(path: str, spec: RunSpec, monkeypatch, tmp_path: Path, capsys) -> Any:
    """``gradcli ddp --nproc 1 --path PATH`` in this process (one gloo rank): its stdout and
    stderr (``.out``, ``.err``)."""
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):  # (the worker sets them; put back after)
        monkeypatch.setenv(name, "0")
    capsys.readouterr()
    worker(0, 1, spec, DdpOptions(1, path, 60.0), f"file://{tmp_path}/{path}-{uuid.uuid4().hex}")
    return capsys.readouterr()


@pytest.mark.parametrize(
    ("accumulate", "skipped", "scales"),
    [
        (1, [True, True, False], [32768.0, 16384.0, 8192.0]),
        (2, [True, False, False], [32768.0, 16384.0, 16384.0]),  # (each micro-batch's loss / 2)
    ],
)
def test_one_rank_skips_the_steps_manual_skips(
    invoke, monkeypatch, tmp_path, capsys, accumulate, skipped, scales
):
    """One rank, a loss scale that overflows float16 at step 1: both paths print the same
    bytes, and their records are manual's of the same run (with one rank the average is the
    gradient itself): the scale, the skip, the parameters that stayed, the gradients
    unscaled, the micro-batches' norms."""
    spec = RunSpec(
        model="linear",
        amp="fp16",
        loss_scale=32768.0,
        accumulate=accumulate,
        steps=3,
        format="jsonl",
    )
    printed = {
        path: one_rank(path, spec, monkeypatch, tmp_path, capsys).out for path in ("manual", "ddp")
    }
    assert printed["manual"] == printed["ddp"]
    records = jsonl(printed["ddp"])
    assert [r.get("skipped") for r in records] == [None, *skipped]
    assert [r.get("scale") for r in records] == [None, *scales]
    args = ["-m", "linear", "--amp", "fp16", "--loss-scale", "32768", "--steps", "3"]
    alone = jsonl(invoke("manual", *args, "--accumulate", str(accumulate), "-f", "jsonl").stdout)
    for mine, theirs in zip(records, alone, strict=True):
        assert {k: mine.get(k) for k in SHARED} == {k: theirs.get(k) for k in SHARED}
    # the rank's own gradient is the averaged one, unscaled as .grad is
    for r in records[1:]:
        grads = {name: p["grad"] for name, p in r["params"].items()}
        assert r["ranks"][0]["grads"] == grads


def test_a_ranks_own_gradient_is_unscaled_as_unscale_leaves_grad():
    """g · float32(1/float64(S)), the very product ``unscale_`` writes into ``.grad``."""
    scaler = HandScaler(init_scale=3.0)
    grad = torch.tensor([1.0, -7.0, 3e-3]) * 3.0
    scaler.scale(torch.ones(()))
    kept = grad.clone()
    scaler.unscale_(0, [grad])
    (own,) = _unscaled([kept], scaler.unscaled())
    assert torch.equal(own, grad)
    assert _unscaled([kept], None)[0] is kept  # (no scaler: as it is)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--amp", "fp32"], "--amp: unknown"),
        (["--loss-scale", "8"], "--loss-scale applies with --amp fp16 only"),
        (["--amp", "fp16", "--dtype", "float64"], "mixed precision keeps float32 master weights"),
    ],
)
def test_bad_amp_input_is_one_line(invoke, args, message):
    result = invoke("ddp", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


# linear's problem with rank 1's half of the targets 100 times larger: at a loss scale of
# 128 rank 1's scaled gradient overflows float16, rank 0's does not
LOPSIDED = """
from gradcli.problems.builtin import LinearRegression


def build():
    problem = LinearRegression()
    problem.y[32:] *= 100
    return problem
"""


@pytest.mark.slow
def test_an_inf_on_one_rank_skips_the_step_on_every_rank(tmp_path):
    """Two workers, only rank 1's scaled gradient overflows at step 1: the all-reduce
    carries its inf to rank 0, both ranks skip the step (no parameter moves, the parameters
    stay equal on the ranks) and halve the scale; both paths print the same bytes. One
    process on the full batch (whose mean gradient does not overflow) takes that step, so
    the final comparison says why it does not compare."""
    (tmp_path / "lopsided.py").write_text(LOPSIDED)
    model = f"{tmp_path / 'lopsided.py'}:build"
    args = ["-m", model, "--amp", "fp16", "--loss-scale", "128", "--steps", "2", "-f", "jsonl"]
    results = {}
    for path in ("manual", "ddp"):
        mark = uuid.uuid4().hex
        results[path] = run("--path", path, *args, mark=mark)
        assert results[path].returncode == 0, results[path].stderr
        assert results[path].stderr == (
            f"gradcli: ddp ({path}, 2 workers) vs one process on the full batch: not "
            "compared, the ranks skipped 1 of 2 steps (inf/NaN gradients) and one process 0 "
            "(float16 overflows in a rank's scaled gradient, or in the full batch's, alone)\n"
        )
        assert left_behind(mark) == []
    assert results["manual"].stdout == results["ddp"].stdout
    first, second = jsonl(results["ddp"].stdout)[1:]
    # (a non-finite number is a string in JSON lines: "Infinity")
    own = [[float(v) for g in r["grads"].values() for v in g] for r in first["ranks"]]
    assert all(map(math.isfinite, own[0]))  # rank 0's own gradient: finite
    assert not all(map(math.isfinite, own[1]))  # rank 1's: an inf
    assert (first["skipped"], first["scale"]) == (True, 128.0)
    assert (second["skipped"], second["scale"]) == (False, 64.0)
    assert all(v == 0.0 for p in first["params"].values() for v in p["update"])
    assert first["max_param_diff_across_ranks"] == second["max_param_diff_across_ranks"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_two_workers_accumulate_under_autocast_alike_on_both_paths(amp):
    """--accumulate 2 under autocast on two workers: DDP under no_sync() prints the bytes
    the hand-written all-reduce prints, one all-reduce a step, and the run stays within
    mixed precision's tolerance of one process on the full batch."""
    args = ["-m", "mlp", "--amp", amp, "--accumulate", "2", "--steps", "3", "-f", "jsonl"]
    results = {path: run("--path", path, *args) for path in ("manual", "ddp")}
    for path, result in results.items():
        assert result.returncode == 0, result.stderr
        tolerance = {"bf16": "0.05", "fp16": "0.02"}[amp]
        assert result.stderr.startswith(f"gradcli: ddp ({path}, 2 workers) vs one process")
        assert f"within the tolerance {tolerance} for float32, autocast {amp}" in result.stderr
    assert results["manual"].stdout == results["ddp"].stdout
    records = [json.loads(line) for line in results["ddp"].stdout.splitlines()]
    assert [r["all_reduces"] for r in records] == [None, 1, 1, 1]
    assert all(("scale" in r) == (amp == "fp16") for r in records[1:])


@pytest.mark.parametrize("amp", [None, "bf16", "fp16"])
def test_one_rank_on_data_with_micro_batches_is_the_same_on_both_paths(
    monkeypatch, tmp_path, capsys, amp
):
    """--data with --accumulate 2 and --amp (and without): one rank's batches from its
    DistributedSampler, two micro-batches an update, on both paths the same bytes (one rank:
    the average is the gradient itself), the epoch's sums those of its batches; the check
    against one process's gradient of the joined batches (a relative one under autocast)
    within its tolerance."""
    spec = RunSpec(
        model="mlp",
        optimizer="adam",
        data="digits",
        batch_size=256,
        steps=4,
        accumulate=2,
        amp=amp,
        format="jsonl",
    )
    printed, said = {}, {}
    for path in ("manual", "ddp"):
        ran = one_rank(path, spec, monkeypatch, tmp_path, capsys)
        printed[path], said[path] = ran.out, ran.err
    assert printed["manual"] == printed["ddp"]
    records = jsonl(printed["ddp"])
    steps = [r for r in records if "params" in r and r["step"] > 0]
    assert [len(r["micro_losses"]) for r in steps] == [2, 2, 2, 2]
    for r in steps:  # a rank's own gradient: the averaged one
        assert r["ranks"][0]["grads"] == {name: p["grad"] for name, p in r["params"].items()}
        assert r["ranks"][0]["loss"] == r["loss"]
    # the epoch (1,438 digits: 3 updates of 2 batches, 5 of 256 and one of 158): each batch
    # counted once, its loss times its size, added in order
    (epoch,) = [r for r in records if "epoch_end" in r]
    total = 0.0
    losses = [x for r in steps[:3] for x in r["micro_losses"]]
    for loss, size in zip(losses, [256] * 5 + [158], strict=True):
        total += loss * size
    assert epoch["train_loss"] == total / 1438
    what = "max relative gradient difference" if amp else "max gradient difference (relative"
    for path, words in said.items():
        assert f"gradcli: ddp ({path}, 1 worker) vs one process on every rank's batches " in words
        assert f"joined: {what} " in words and ", within the tolerance " in words


@pytest.mark.slow
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_two_workers_on_data_accumulate_under_autocast_alike_on_both_paths(amp):
    """--data, --accumulate 2 and --amp on two ranks: both paths print the same bytes, the
    gradients all-reduced once an update, and each step's averaged gradient within the
    relative tolerance of one process's gradient of the ranks' micro-batches joined."""
    args = ["--data", "digits", "-m", "mlp", "--batch-size", "128", "--steps", "4"]
    args += ["-o", "adam", "--accumulate", "2", "--amp", amp, "-f", "jsonl"]
    results = {path: run(*args, "--path", path) for path in ("manual", "ddp")}
    limit = {"bf16": "0.03125", "fp16": "0.00390625"}[amp]
    for path, result in results.items():
        assert result.returncode == 0, result.stderr
        (said,) = result.stderr.splitlines()
        assert said.startswith(
            f"gradcli: ddp ({path}, 2 workers) vs one process on every rank's batches joined: "
            "max relative gradient difference "
        )
        assert f" over 4 steps, within the tolerance {limit} for float32, autocast {amp}" in said
    assert results["manual"].stdout == results["ddp"].stdout
    records = [json.loads(line) for line in results["ddp"].stdout.splitlines()]
    steps = [r for r in records if "params" in r][1:]  # (an epoch's end after step 3)
    assert [len(r["micro_losses"]) for r in steps] == [2, 2, 2, 2]
    assert [r["all_reduces"] for r in steps] == [1, 1, 1, 1]
