"""gradcli ddp: two CPU workers (gloo), by hand and with DistributedDataParallel."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DistributedSampler

from gradcli.cli.epochs import batches_per_epoch
from gradcli.data.dataset import CLASSIFICATION, DataSet
from gradcli.data.feed import Feed, Shard
from gradcli.ddp.together import AllRanks
from gradcli.errors import GradcliError
from gradcli.spec import RunSpec
from gradcli.train.setup import build_problem, prepare
from tests.helpers import jsonl


def run(*args: str, mark: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRADCLI_TEST_MARK": mark or uuid.uuid4().hex, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "gradcli", "ddp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        **kwargs,
    )


def left_behind(mark: str) -> list[int]:
    """Processes still alive that carry this test's mark in their environment."""
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if f"GRADCLI_TEST_MARK={mark}".encode() in Path(f"/proc/{pid}/environ").read_bytes():
                alive.append(int(pid))
        except OSError:
            continue
    return alive


# --- the hooks gradcli ddp plugs into the one loop, in one process (no workers) -------------


def test_each_record_is_completed_before_it_is_yielded_and_each_step_told_if_shown():
    training, _ = prepare(RunSpec(model="linear", steps=4, every=2), "manual", torch.device("cpu"))
    told: list[tuple[int, bool]] = []
    training.complete_record = lambda record: dataclasses.replace(
        record, max_param_diff_across_ranks=float(record.step)
    )
    training.before_update = lambda step, shown: told.append((step, shown))
    records = list(training)
    assert [r.step for r in records] == [0, 2, 4]
    assert [r.max_param_diff_across_ranks for r in records] == [0.0, 2.0, 4.0]
    assert told == [(1, False), (2, True), (3, False), (4, True)]


def test_another_process_finding_a_non_finite_gradient_stops_this_one():
    training, _ = prepare(RunSpec(model="linear", steps=5, every=5), "optim", torch.device("cpu"))
    training.finite_everywhere = lambda finite: False  # as if another rank diverged
    records = list(training)
    assert [r.step for r in records] == [0, 1]  # the step it stopped after is shown
    assert training.stopped_at == 1 and training.diverged is not None


def test_forward_after_backward_and_the_loss_a_schedule_is_fed():
    spec = RunSpec(model="linear", steps=3, lr=0.1, schedule="ReduceLROnPlateau(patience=0)")
    training, _ = prepare(spec, "manual", torch.device("cpu"))
    calls = {"forward": 0, "after_backward": 0}

    def forward() -> torch.Tensor:
        calls["forward"] += 1
        return training.problem()

    training.forward = forward
    training.after_backward = lambda: calls.__setitem__(
        "after_backward", 1 + calls["after_backward"]
    )
    training.schedule_loss = lambda loss: 7.0  # e.g. the mean over ranks
    list(training)
    assert calls == {"forward": 3, "after_backward": 3}
    assert training.fed == [7.0, 7.0, 7.0]
    # a loss that never improves: with patience 0, the lr is cut tenfold after steps 2 and 3
    assert training.update.lr == pytest.approx(0.001)


def test_the_set_up_runs_on_the_device_its_caller_chose():
    """A rank picks its own GPU (cuda:rank); the set-up does not resolve --device again."""
    training, info = prepare(RunSpec(device="cuda:7", steps=1), "optim", torch.device("cpu"))
    assert info.device == "cpu"
    assert {p.device.type for p in training.problem.parameters()} == {"cpu"}


def check_records(stdout: str, world: int, steps: int) -> list[dict]:
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["step"] for r in records] == list(range(steps + 1))
    for r in records:
        assert r["max_param_diff_across_ranks"] == 0.0  # the same parameters on every rank
    for r in records[1:]:
        assert [x["rank"] for x in r["ranks"]] == list(range(world))
        assert r["loss"] == pytest.approx(sum(x["loss"] for x in r["ranks"]) / world)
        for name, p in r["params"].items():
            local = [x["grads"][name] for x in r["ranks"]]
            if isinstance(p["grad"], list):  # the average of the ranks' own gradients
                mean = [sum(values) / world for values in zip(*local, strict=True)]
                assert p["grad"] == pytest.approx(mean, rel=1e-5, abs=1e-7)
            else:
                means = sum(g["mean"] for g in local) / world
                assert p["grad"]["mean"] == pytest.approx(means, rel=1e-4, abs=1e-7)
    return records


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "model", "optimizer"), [("manual", "linear", "sgd"), ("ddp", "mlp", "adam")]
)
def test_two_workers_agree_with_one_process(path, model, optimizer):
    mark = uuid.uuid4().hex
    result = run(
        "--nproc",
        "2",
        "--path",
        path,
        "-m",
        model,
        "-o",
        optimizer,
        "--steps",
        "5",
        "-f",
        "jsonl",
        mark=mark,
    )
    assert result.returncode == 0, result.stderr
    check_records(result.stdout, 2, 5)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"gradcli: ddp ({path}, 2 workers) vs one process on the full batch: max |difference| "
    )
    assert lines[0].endswith("within the tolerance 0.0001 for float32")
    assert left_behind(mark) == []


@pytest.mark.slow
@pytest.mark.parametrize("world", [1, 2])
def test_torchrun_launches_it_the_usual_way(world):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            str(world),
            "--standalone",
            "-m",
            "gradcli",
            "ddp",
            "--steps",
            "3",
            "-f",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    check_records(result.stdout, world, 3)  # rank 0 alone wrote stdout
    # torchrun's world size, not --nproc's default (2)
    workers = "1 worker" if world == 1 else f"{world} workers"
    assert f"gradcli: ddp (manual, {workers}) vs one process" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "seed"], "--model seed has no data to shard across workers"),
        (["--nproc", "3"], "model linear has 64 samples, which do not split evenly"),
        (["--path", "horovod"], "--path: unknown path 'horovod'; choose one of: manual, ddp"),
        (["--format", "csv"], "--format: unknown format 'csv'; choose one of: auto, table, jsonl"),
        (["--nproc", "0"], "--nproc must be an integer in [1, 64], got 0"),
    ],
)
def test_bad_input(invoke, args, message):
    result = invoke("ddp", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=str)
def test_ctrl_c_and_sigterm_stop_every_worker_after_the_same_step(stop):
    mark = uuid.uuid4().hex
    env = {**os.environ, "GRADCLI_TEST_MARK": mark}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gradcli",
            "ddp",
            "--steps",
            "100000000",
            "-m",
            "mlp",
            "-f",
            "jsonl",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    lines = [proc.stdout.readline() for _ in range(3)]
    proc.send_signal(stop)  # to the launcher only; it tells the workers
    rest = proc.stdout.read()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert proc.returncode == 128 + stop
    records = [json.loads(line) for line in (b"".join(lines) + rest).decode().splitlines()]
    last = records[-1]["step"]
    named = "" if stop == signal.SIGINT else f" ({stop.name})"
    assert err == (f"gradcli: interrupted: the workers stopped together after step {last}{named}\n")
    assert left_behind(mark) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ending", "said"),
    [
        ("raise RuntimeError('rank 1 lost its data')", "raised RuntimeError: rank 1 lost its data"),
        ("sys.exit(5)", "called sys.exit(5)"),
        ("sys.exit(0)", "called sys.exit(0)"),
    ],
    ids=["raise", "exit-5", "exit-0"],
)
def test_a_failing_worker_ends_them_all(tmp_path, ending, said):
    """One line on stderr, the failing worker's own reason (not its peers' "connection reset"
    nor torch's "Terminating process"); RANK is set in every worker, as under torchrun."""
    model = tmp_path / "flaky.py"
    model.write_text(
        textwrap.dedent(f"""
        import os
        import sys
        from gradcli.problems import LinearRegression

        class Flaky(LinearRegression):
            calls = 0

            def forward(self):
                Flaky.calls += 1
                if os.environ.get("RANK") == "1" and Flaky.calls > 3:
                    {ending}
                return super().forward()

        def build():
            return Flaky()
    """)
    )
    mark = uuid.uuid4().hex
    result = run(
        "-m", f"{model}:build", "--steps", "50", "--timeout", "30", "-f", "jsonl", mark=mark
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"gradcli: error: a worker failed: rank 1: --model {model}:build: "
        f"forward() or backward() {said}"
    ]
    assert left_behind(mark) == []


@pytest.mark.slow
def test_table_on_rank_zero():
    result = run("--nproc", "2", "--steps", "1", "-f", "table", "-q")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "step 1/1" in out and "rank 0 grad" in out and "rank 1 grad" in out
    assert "averaged grad" in out and "parameters identical on every rank" in out
    assert result.stderr == ""


@pytest.mark.slow
def test_ctrl_c_on_a_step_not_shown_with_ddp_path():
    """--path ddp --every N: the step Ctrl-C stops at is shown, with each rank's own
    gradient (this used to read it before it was set: exit 2 instead of 130)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gradcli",
            "ddp",
            "--path",
            "ddp",
            "--every",
            "1000000",
            "--steps",
            "100000000",
            "-m",
            "mlp",
            "-f",
            "jsonl",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()  # step 0; the steps after it are not shown
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert proc.returncode == 130, err
    records = [json.loads(line) for line in (first + rest).decode().splitlines()]
    last = records[-1]
    assert last["step"] > 0 and [r["rank"] for r in last["ranks"]] == [0, 1]
    assert err == f"gradcli: interrupted: the workers stopped together after step {last['step']}\n"


@pytest.mark.slow
@pytest.mark.parametrize("path", ["manual", "ddp"])
def test_divergence_ends_ddp_with_exit_3(path):
    result = run("--path", path, "-m", "linear", "--lr", "1e10", "--steps", "10", "-f", "jsonl")
    assert result.returncode == 3, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[-1]["step"] < 10
    assert result.stderr.startswith(f"gradcli: diverged: step {records[-1]['step']}: the loss is")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.slow
def test_a_closed_pipe_ends_ddp_quietly():
    read, write = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", "ddp", "--steps", "100000", "-f", "jsonl"],
        stdout=write,
        stderr=subprocess.PIPE,
    )
    os.close(write)
    with os.fdopen(read, "rb") as reader:
        assert json.loads(reader.readline())["step"] == 0
    # the reader is gone, as after `| head -1`
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141
    assert err == b""


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_refused_before_any_worker_starts(invoke, monkeypatch, device):
    import torch.multiprocessing

    started = []

    def start_processes(*args, **kwargs):
        started.append(args)
        raise RuntimeError("a worker was started")

    monkeypatch.setattr(torch.multiprocessing, "start_processes", start_processes)
    result = invoke("ddp", "--device", device, "--steps", "1")
    assert started == []
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"gradcli: error: --device {device}: CUDA is not available")
    assert len(result.stderr.splitlines()) == 1


SLOW_IMPORT = textwrap.dedent("""
    import os
    import pathlib
    import time

    from gradcli.problems import LinearRegression

    if "RANK" in os.environ:  # a worker: say so, then wait (as if importing a big library)
        folder = pathlib.Path(os.environ["GRADCLI_TEST_FOLDER"])
        (folder / f"importing-{os.environ['RANK']}").touch()
        while not (folder / "go").exists():
            time.sleep(0.01)

    def build():
        return LinearRegression()
""")


@pytest.mark.slow
def test_ctrl_c_while_the_workers_import_is_one_line(tmp_path):
    """The terminal's Ctrl-C reaches every process of the group, twice: the workers, still
    importing, ignore it; the launcher stops them and says so in one line."""
    (tmp_path / "slow.py").write_text(SLOW_IMPORT)
    env = {**os.environ, "GRADCLI_TEST_FOLDER": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", "ddp", "-m", "slow.py:build", "--steps", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    while not all((tmp_path / f"importing-{rank}").exists() for rank in (0, 1)):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    for _ in range(2):
        os.killpg(proc.pid, signal.SIGINT)
    (tmp_path / "go").touch()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradcli: interrupted"), err.decode()


# --- --data: each rank's batches through a DistributedSampler --------------------------------


def numbered(n: int, classes: int = 3) -> DataSet:
    """A data set whose sample i is the number i (so a batch names its samples)."""
    return DataSet(
        "numbered",
        torch.arange(n, dtype=torch.float64).unsqueeze(1),
        torch.arange(n) % classes,
        None,
        None,
        CLASSIFICATION,
        classes,
        "none",
    )


def sharded(data: DataSet, rank: int, world: int, **options) -> Feed:
    defaults = {"batch_size": 4, "shuffle": True, "drop_last": False, "data_seed": 0}
    return Feed(
        data,
        **{**defaults, **options},
        loss=None,
        dtype=torch.float64,
        device=torch.device("cpu"),
        shard=Shard(rank, world),
    )


def epoch_of(feed: Feed) -> list[list[int]]:
    """The samples of each batch of the feed's next epoch."""
    batches = []
    for _ in range(feed.batches):
        feed.next()
        batches.append([int(x) for x in feed.x_batch.reshape(-1)])
    assert feed.epoch_ended
    return batches


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    world=st.integers(1, 5),
    batch_size=st.integers(1, 9),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    data_seed=st.integers(0, 2**63 - 1),
)
def test_the_ranks_batches_are_disjoint_and_cover_the_data(
    n, world, batch_size, shuffle, drop_last, data_seed
):
    """Each epoch: every rank takes as many batches, of the same sizes (so the average of the
    ranks' mean losses is the mean over their batches joined); the ranks' samples are
    disjoint and cover the data, but for DistributedSampler's padding (repeats of the first
    samples up to a multiple of the ranks) or, with --drop-last, what it and the loader drop;
    each epoch's order is the sampler's after set_epoch(epoch - 1), as in the usual loop."""
    data = numbered(n)
    options = {"batch_size": batch_size, "shuffle": shuffle, "drop_last": drop_last}
    per_rank = n // world if drop_last else -(-n // world)
    if drop_last and per_rank < batch_size:
        with pytest.raises(GradcliError, match="every batch would be dropped"):
            sharded(data, 0, world, **options, data_seed=data_seed)
        return
    feeds = [sharded(data, r, world, **options, data_seed=data_seed) for r in range(world)]
    joined = AllRanks(
        data,
        world,
        **options,
        data_seed=data_seed,
        loss=None,
        dtype=torch.float64,
        device=torch.device("cpu"),
    )
    for epoch in (1, 2):
        epochs = [epoch_of(feed) for feed in feeds]
        assert {len(batches) for batches in epochs} == {joined.batches}
        for k in range(joined.batches):  # batch k has the same size on every rank
            assert len({len(batches[k]) for batches in epochs}) == 1
            joined.next()
            assert [int(x) for x in joined.x_batch.reshape(-1)] == [
                i for batches in epochs for i in batches[k]
            ]
        taken = [i for batches in epochs for batch in batches for i in batch]
        if drop_last:
            assert len(set(taken)) == len(taken) == world * (per_rank // batch_size) * batch_size
        else:
            assert set(taken) == set(range(n)) and len(taken) == world * per_rank
            assert len(set(taken)) == len(taken) or n % world
        for rank, batches in enumerate(epochs):
            sampler = DistributedSampler(
                feeds[rank].loader.dataset, world, rank, shuffle, data_seed, drop_last
            )
            sampler.set_epoch(epoch - 1)
            order = [i for batch in batches for i in batch]
            assert order == list(sampler)[: len(order)]


def test_a_sharded_feed_resumes_at_the_same_batch():
    data = numbered(30)
    feed = sharded(data, 1, 3)
    epoch_of(feed)
    feed.next()
    feed.next()  # epoch 2, batch 2
    state = feed.state_dict()
    again = sharded(data, 1, 3)
    again.load_state_dict(state)
    feed.next()
    again.next()
    assert (again.epoch, again.batch) == (feed.epoch, feed.batch) == (2, 3)
    assert torch.equal(again.x_batch, feed.x_batch)


def test_each_rank_evaluates_its_share_and_the_sums_are_reduced():
    """Held-out evaluation on every rank, each its contiguous share; the reduced sums are
    the whole set's (reduce: what all_reduce(SUM) does, here over the ranks' sums at once)."""
    data = numbered(31)
    model = torch.nn.Linear(1, 3).double()
    world = 3
    shares = []
    for rank in range(world):
        feed = sharded(data, rank, world)
        feed.reduce = shares.append  # first, each rank's own sums
        feed.evaluate(model, "train")
    total = torch.stack(shares).sum(dim=0)
    feed = sharded(data, 0, world)
    feed.reduce = lambda sums: sums.copy_(total)
    reduced = feed.evaluate(model, "train")
    whole = sharded(data, 0, world).evaluate(model, "train")  # (no reduce: the whole set)
    assert reduced.loss == pytest.approx(whole.loss, rel=1e-12)
    assert reduced.accuracy == whole.accuracy


@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_epochs_count_each_ranks_batches(world, drop_last):
    options = {"data": "digits", "batch_size": 64, "drop_last": drop_last}
    spec = RunSpec(data="digits", batch_size=64, drop_last=drop_last)
    _, feed = build_problem(spec, torch.device("cpu"), Shard(world - 1, world))
    assert batches_per_epoch(options, world) == feed.batches


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--batch-size", "800", "--drop-last"],
            "--batch-size 800 with --drop-last: digits has 1438 training samples, 719 for each "
            "of 2 ranks, so every batch would be dropped",
        ),
        (
            ["--batch-size", "64", "--nproc", "3", "--epochs", "2", "--steps", "24"],
            "--steps 24 and --epochs 2 disagree: 2 epochs of 8 batches are 16 steps",
        ),
    ],
)
def test_bad_data_input(invoke, args, message):
    result = invoke("ddp", "--data", "digits", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


@pytest.mark.slow
def test_both_paths_train_on_the_ranks_batches_alike():
    """Two workers on digits: the records carry epoch and batch, an epoch's end comes after
    its last batch, each step's averaged gradient is one process's on the ranks' batches
    joined, and DDP's averaging gives the same bytes as the hand-written all_reduce (with two
    ranks, halving is exact and a sum of two does not depend on its order)."""
    args = ["--data", "digits", "-m", "mlp", "--batch-size", "64", "--epochs", "2"]
    args += ["-o", "SGD(lr=0.1, momentum=0.9)", "--every", "5", "-f", "jsonl"]
    results = {path: run(*args, "--path", path) for path in ("manual", "ddp")}
    for path, result in results.items():
        assert result.returncode == 0, result.stderr
        said = result.stderr.splitlines()
        assert len(said) == 1 and said[0].startswith(
            f"gradcli: ddp ({path}, 2 workers) vs one process on every rank's batches joined: "
            "max gradient difference (relative past 1) "
        )
        assert said[0].endswith(" over 24 steps, within the tolerance 0.0001 for float32")
    assert results["manual"].stdout == results["ddp"].stdout
    records = [json.loads(line) for line in results["manual"].stdout.splitlines()]
    steps = [r for r in records if "epoch_end" not in r]
    ends = [r for r in records if "epoch_end" in r]
    assert [r["step"] for r in steps] == [0, 5, 10, 15, 20, 24]
    for r in steps[1:]:  # 719 samples a rank: 12 batches of 64 (the last of 15)
        assert (r["epoch"], r["batch"]) == ((r["step"] - 1) // 12 + 1, (r["step"] - 1) % 12 + 1)
        assert r["loss"] == pytest.approx(sum(x["loss"] for x in r["ranks"]) / 2)
        assert r["max_param_diff_across_ranks"] == 0.0
    assert [(r["epoch_end"], r["step"]) for r in ends] == [(1, 12), (2, 24)]
    assert [r["step"] for r in records] == [0, 5, 10, 12, 15, 20, 24, 24]  # an end after its step
    assert all(0 <= r["val_accuracy"] <= 1 and r["val_loss"] > 0 for r in ends)


# --- the launcher's processes: they end with it, and say nothing but one line ----------------


def gradcli_ddp(
    *args: str, redirect: str = "", mark: str, tmp: Path | None = None, **kwargs
) -> subprocess.Popen:
    """``gradcli ddp`` started by a shell with its ``redirect`` (``2>&-``: stderr closed),
    its temporary folder in ``tmp`` when given."""
    command = " ".join([sys.executable, "-m", "gradcli", "ddp", *args, redirect])
    env = {**os.environ, "GRADCLI_TEST_MARK": mark, "OMP_NUM_THREADS": "1"}
    env.update({"TMPDIR": str(tmp)} if tmp is not None else {})
    return subprocess.Popen(["/bin/sh", "-c", f"exec {command}"], env=env, **kwargs)


def gone(mark: str, within: float) -> bool:
    """Whether every process with this mark has ended within ``within`` seconds."""
    deadline = time.monotonic() + within
    while left_behind(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left_behind(mark) == []


@pytest.mark.slow
def test_the_workers_die_with_a_killed_launcher(tmp_path):
    """SIGKILL, which the launcher cannot catch: its workers and multiprocessing's resource
    tracker end too, at once and without a word (the tracker unlinks the semaphores; only
    the launcher's folder stays, here in tmp_path)."""
    mark = uuid.uuid4().hex
    proc = gradcli_ddp(
        "--steps",
        "100000",
        "-f",
        "jsonl",
        mark=mark,
        tmp=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert json.loads(proc.stdout.readline())["step"] == 0
        assert len(left_behind(mark)) >= 4  # the launcher, the tracker, two workers
        proc.kill()
        proc.wait(timeout=10)
        assert gone(mark, within=15), "processes outlived their launcher"
        assert proc.stderr.read() == b""
    finally:  # (only when the test failed) SIGTERM, which the resource tracker ignores: it
        for pid in left_behind(mark):  # ends once the workers have, unlinking their semaphores
            os.kill(pid, signal.SIGTERM)
        if not gone(mark, within=10):
            for pid in left_behind(mark):
                os.kill(pid, signal.SIGKILL)


LIFELINE = textwrap.dedent("""
    import os, subprocess, sys, time
    if sys.argv[1] == "launcher":  # starts a worker, says its pid, waits to be killed
        worker = subprocess.Popen([sys.executable, __file__, "worker", str(os.getpid())])
        print(worker.pid, flush=True)
        time.sleep(60)
    else:
        from gradcli.ddp import lifeline
        lifeline._parent_death_signal = lambda: False  # the watchdog, as where prctl is missing
        lifeline.die_with(int(sys.argv[2]), poll=0.05)
        print("tied", flush=True)
        time.sleep(60)
""")


def test_a_worker_without_prctl_dies_with_its_launcher_too(tmp_path):
    (tmp_path / "lifeline.py").write_text(LIFELINE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    launcher = subprocess.Popen(
        [sys.executable, str(tmp_path / "lifeline.py"), "launcher"],
        stdout=subprocess.PIPE,
        env=env,
    )
    worker = int(launcher.stdout.readline())
    assert launcher.stdout.readline() == b"tied\n"
    launcher.kill()
    launcher.wait()
    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker)


def test_an_orphan_ends_as_it_ties_itself():
    """The launcher died before the worker asked (the race prctl leaves): it ends at once."""
    code = "from gradcli.ddp import lifeline; lifeline.die_with(1); print('went on')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 137
    assert done.stdout == b""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_sighup_to_the_process_group_is_one_line():
    """A closed terminal signals every process of its group: the workers and the resource
    tracker leave it to the launcher (no tracker relaunched, no tracebacks)."""
    mark = uuid.uuid4().hex
    proc = gradcli_ddp(
        "-m",
        "mlp",
        "--steps",
        "100000",
        "-f",
        "jsonl",
        mark=mark,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    first = proc.stdout.readline()
    os.killpg(proc.pid, signal.SIGHUP)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 129
    last = json.loads((first + rest).decode().splitlines()[-1])["step"]
    assert err.decode() == (
        f"gradcli: interrupted: the workers stopped together after step {last} (SIGHUP)\n"
    )
    assert gone(mark, within=10)


@pytest.mark.slow
def test_a_closed_stderr_keeps_the_workers_words_out_of_stdout():
    mark = uuid.uuid4().hex
    proc = gradcli_ddp(
        "--steps", "1", "-f", "jsonl", redirect="2>&-", mark=mark, stdout=subprocess.PIPE
    )
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0
    assert [r["step"] for r in jsonl(out.decode())] == [0, 1]  # no summary line among them


@pytest.mark.slow
def test_a_full_stdout_is_exit_74_as_for_every_command():
    mark = uuid.uuid4().hex
    ddp = gradcli_ddp(
        "--steps", "100000", "-f", "jsonl", redirect=">/dev/full", mark=mark, stderr=subprocess.PIPE
    )
    _, err = ddp.communicate(timeout=180)
    optim = subprocess.run(
        ["/bin/sh", "-c", f"exec {sys.executable} -m gradcli optim --steps 1 >/dev/full"],
        capture_output=True,
        timeout=120,
    )
    assert (ddp.returncode, optim.returncode) == (74, 74)
    assert err == optim.stderr
    assert err.decode().startswith("gradcli: error: cannot write the output: ")
    assert len(err.splitlines()) == 1
    assert gone(mark, within=10)


SAMPLES = textwrap.dedent("""
    from gradcli.problems import LinearRegression

    class Odd(LinearRegression):
        def samples(self):
            {body}

    def build():
        return Odd()
""")


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("raise ValueError('no count')", "samples() raised ValueError: no count"),
        ("return 'many'", "samples() must return a positive integer (the number of samples "),
        ("return 0", "samples() must return a positive integer"),
        ("return 64.0", "got 64.0"),
    ],
    ids=["raises", "string", "zero", "float"],
)
def test_a_problems_samples_that_is_no_count_is_one_line(invoke, tmp_path, body, said):
    model = tmp_path / "odd.py"
    model.write_text(SAMPLES.format(body=body))
    result = invoke("ddp", "-m", f"{model}:build", "--steps", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"gradcli: error: --model {model}:build: ")
    assert said in result.stderr


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"RANK": "abc", "WORLD_SIZE": "2"}, "RANK must be an integer in [0, 1] "),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK must be an integer in [0, 1] "),
        ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE must be an integer >= 1 "),
        ({"RANK": "0", "WORLD_SIZE": "1"}, "MASTER_ADDR is not set, but RANK and WORLD_SIZE are"),
        (
            {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "localhost", "MASTER_PORT": "x"},
            "MASTER_PORT must be an integer in [1, 65535] ",
        ),
    ],
    ids=["rank-abc", "rank-too-big", "world-0", "no-master-addr", "port-x"],
)
def test_a_torchrun_environment_that_is_wrong_is_one_line(invoke, monkeypatch, env, said):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = invoke("ddp", "--steps", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"gradcli: error: {said}")


@pytest.mark.slow
def test_large_gradients_on_data_are_checked_relative_to_their_size(tmp_path):
    """Features in the hundreds make gradients of 1e4 or more: two ranks' sums and one
    process's differ in float32's last digits, which is 1e-4 and more of such a gradient in
    absolute terms. The check is relative past 1, so the run passes (it failed, absolute)."""
    table = tmp_path / "big.csv"
    rows = [f"{(i * 37) % 1000},{(i * 91) % 997},{3 * ((i * 37) % 1000) - 2}" for i in range(64)]
    table.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    result = run(
        *("--nproc", "2", "--data", str(table), "--target", "y", "-m", "linear"),
        *("-o", "SGD(lr=0.01, momentum=0.9)", "--batch-size", "8", "--epochs", "2", "-f", "jsonl"),
    )
    assert result.returncode == 0, result.stderr
    (said,) = result.stderr.splitlines()
    assert "max gradient difference (relative past 1) " in said
    assert said.endswith(" over 8 steps, within the tolerance 0.0001 for float32")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    grads = [
        abs(x) for r in records[1:] if "params" in r for x in r["params"]["linear.weight"]["grad"]
    ]
    assert max(grads) > 1e3  # (large indeed: an absolute 1e-4 would be float32's last digits)
