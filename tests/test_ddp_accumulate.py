"""gradcli ddp --accumulate K: each rank accumulates K micro-batches of its shard, and the
gradients are all-reduced once an update: DDP under ``no_sync()`` for all but the last
micro-batch, the hand-written path after the last one."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from gradcli import problems
from gradcli.spec import RunSpec
from gradcli.train.setup import prepare
from tests.helpers import jsonl
from tests.test_ddp import left_behind, run


def test_each_micro_batch_runs_inside_the_context_its_index_asks_for():
    """The hook ``no_sync()`` plugs into: entered around each micro-batch's forward and
    backward, by index, in order."""
    training, _ = prepare(RunSpec(model="linear", steps=2, accumulate=4), "manual")
    seen: list[tuple[str, int]] = []
    forward = training.problem

    @contextlib.contextmanager
    def around(index: int):
        seen.append(("enter", index))
        yield
        seen.append(("leave", index))

    def counted() -> torch.Tensor:
        seen.append(("forward", len(seen)))
        return forward()

    training.micro_context = around
    training.forward = counted
    list(training)
    per_update = [("enter", 0), ("forward", 1), ("leave", 0)]
    per_update += [("enter", 1), ("forward", 4), ("leave", 1)]
    per_update += [("enter", 2), ("forward", 7), ("leave", 2)]
    per_update += [("enter", 3), ("forward", 10), ("leave", 3)]
    assert seen[:12] == per_update
    assert len(seen) == 24


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--accumulate", "3"],
            "--accumulate 3: model linear has 64 samples, 32 a rank with 2 workers, which 3 "
            "micro-batches cannot share equally; choose a K that divides 32",
        ),
        (  # (a rank's share, 719 digits, is 12 batches of 64)
            ["--data", "digits", "-m", "mlp", "--batch-size", "64", "--accumulate", "5"],
            "--accumulate 5: an epoch of digits has 12 batches of 64, which do not make whole "
            "updates of 5",
        ),
        (["-m", "seed", "--accumulate", "2"], "--model seed has no data to shard"),
    ],
)
def test_bad_accumulation(invoke, args, message):
    result = invoke("ddp", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def by_the_math(world: int, k: int) -> tuple[list, list]:
    """Step 1's gradients as the arithmetic has them, written out: on each rank, the
    gradient of each of its K slices' mean loss divided by K, added in order (as ``.grad``
    adds them); then the ranks' sums added and divided by the number of ranks."""
    model = problems.build("linear", seed=0, dtype=torch.float32, device=torch.device("cpu"))
    params = list(model.parameters())
    x, y = model.x, model.y
    own = []
    for rank in range(world):
        total = None
        for xs, ys in zip(
            x.chunk(world)[rank].chunk(k), y.chunk(world)[rank].chunk(k), strict=True
        ):
            model.x, model.y = xs, ys
            grads = torch.autograd.grad(model() / k, params)
            total = (
                list(grads) if total is None else [a + b for a, b in zip(total, grads, strict=True)]
            )
        own.append(total)
    averaged = [sum(grads[1:], grads[0]) / world for grads in zip(*own, strict=True)]
    return own, averaged


@pytest.mark.slow
def test_k_micro_batches_under_no_sync_are_the_hand_written_path_and_the_math():
    """Two workers, four micro-batches each: DDP with ``no_sync()`` prints the bytes the
    hand-written all-reduce prints (with two ranks, DDP's halving before its sum is exact);
    both all-reduce once an update, as the records count; and step 1's gradients, each
    rank's and the average, are the arithmetic written out above, bit for bit, and one full
    batch's to rounding."""
    args = ["--steps", "3", "--accumulate", "4", "-f", "jsonl"]
    results = {
        path: run(*args, "--path", path, mark=f"accumulate-{path}") for path in ("manual", "ddp")
    }
    for path, result in results.items():
        assert result.returncode == 0, result.stderr
        assert f"gradcli: ddp ({path}, 2 workers) vs one process on the full batch" in result.stderr
        assert left_behind(f"accumulate-{path}") == []
    assert results["manual"].stdout == results["ddp"].stdout
    records = jsonl(results["ddp"].stdout)
    assert [r["all_reduces"] for r in records] == [None, 1, 1, 1]
    assert all(len(r["micro_losses"]) == 4 for r in records[1:])
    first = records[1]
    own, averaged = by_the_math(2, 4)
    names = ["linear.weight", "linear.bias"]
    for rank, grads in enumerate(own):
        for name, grad in zip(names, grads, strict=True):
            assert first["ranks"][rank]["grads"][name] == grad.double().reshape(-1).tolist()
    for name, grad in zip(names, averaged, strict=True):
        assert first["params"][name]["grad"] == grad.double().reshape(-1).tolist()
    whole = problems.build("linear", seed=0, dtype=torch.float32, device=torch.device("cpu"))
    full = torch.autograd.grad(whole(), list(whole.parameters()))
    for name, grad in zip(names, full, strict=True):
        assert first["params"][name]["grad"] == pytest.approx(
            grad.double().reshape(-1).tolist(), rel=1e-6
        )


# Three gloo ranks: DDP with gradcli's counting hook and DDP without a hook, on the same
# model and batches; rank 0 says whether every gradient is the same bits, and the count.
HOOKED_AND_PLAIN = """
import sys, torch, torch.distributed as dist, torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from gradcli.ddp.worker import Syncs


def work(rank, world, store):
    dist.init_process_group("gloo", init_method=store, rank=rank, world_size=world)
    torch.manual_seed(0)
    plain, hooked = torch.nn.Linear(50, 40), torch.nn.Linear(50, 40)
    hooked.load_state_dict(plain.state_dict())
    syncs = Syncs()
    a, b = DistributedDataParallel(plain), DistributedDataParallel(hooked)
    b.register_comm_hook(None, lambda state, bucket: syncs.hook(state, bucket))
    x = 1.37 * torch.randn(7, 50, generator=torch.Generator().manual_seed(rank))
    a(x).pow(2).sum().backward()
    syncs.counted(lambda: b(x))().pow(2).sum().backward()
    syncs.done()
    same = all(torch.equal(p.grad, q.grad) for p, q in zip(plain.parameters(), hooked.parameters()))
    if rank == 0:
        print(same, syncs.last)
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(work, args=(3, sys.argv[1]), nprocs=3)
"""


@pytest.mark.slow
def test_counting_the_all_reduces_leaves_ddps_arithmetic_as_it_is(tmp_path):
    """With three ranks, where dividing by the world and multiplying by its reciprocal round
    differently (torch's ``allreduce_hook`` divides): the counting hook's gradients are
    DDP's own, bit for bit, and it counts one all-reduce for the backward pass."""
    script = tmp_path / "hooked.py"
    script.write_text(HOOKED_AND_PLAIN)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ran = subprocess.run(
        [sys.executable, str(script), f"file://{tmp_path}/store"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["True", "1"]


def test_a_model_without_data_buffers_is_refused_before_any_worker_starts(
    invoke, tmp_path, monkeypatch
):
    """A model of one's own that shards itself but holds no ``data_buffers`` cannot be cut
    into micro-batches: the same line as ``--print-script``'s, from the checks before the
    workers start (not a worker's failure, ``a worker failed: rank 0: ...``)."""
    from tests.test_ddp_script import OWN_MODEL

    (tmp_path / "line.py").write_text(textwrap.dedent(OWN_MODEL))
    monkeypatch.chdir(tmp_path)
    said = (
        "gradcli: error: --accumulate 2: --model line.py:build has no data to cut into "
        "micro-batches (its loss is one expression); use it with a problem that holds data "
        "(linear, mlp) or with --data\n"
    )
    for extra in ([], ["--print-script"]):
        result = invoke("ddp", "-m", "line.py:build", "--nproc", "3", "--accumulate", "2", *extra)
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", said)
