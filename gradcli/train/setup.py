"""A run's set-up: the device, the problem, the update and what a sink shows first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from functools import partial
from typing import Any

import torch
from torch import nn

from gradcli import optimizers, problems
from gradcli._startup import threads
from gradcli.data import DataSet, Request
from gradcli.data.feed import Feed, Shard
from gradcli.errors import GradcliError
from gradcli.optimizers.formula import explain_line
from gradcli.records import RunInfo
from gradcli.schedules.schedule import explain_lr
from gradcli.spec import RunSpec, check_schedule_and_clipping
from gradcli.train import checkpoint
from gradcli.train.accumulation import Batches, Slices
from gradcli.train.clipping import Clipping
from gradcli.train.loop import Training
from gradcli.train.loss_scaling import HandScaler
from gradcli.train.precision import autocast
from gradcli.train.resuming import check_state_fits
from gradcli.train.updates import ManualUpdate, OptimUpdate, impl_kwargs


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available; asking for an absent CUDA device is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
            raise GradcliError(
                f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
                f"{build}); use --device cpu or auto"
            )
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise GradcliError(
                f"--device {name}: no such GPU; this machine has {torch.cuda.device_count()} "
                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
    return torch.device(name)


def check_gradients(spec: RunSpec, problem: nn.Module) -> None:
    """One line, before the run, where torch's optimizer would refuse the problem's
    gradients: sparse ones (``nn.Embedding(sparse=True)``) for most optimizers and for fused
    kernels, dense ones for SparseAdam."""
    optimizer = spec.optimizer_info
    hyperparameters = spec.hyperparameters()
    sparse = problems.sparse_gradients(problem)
    names = [name for name, _ in problem.named_parameters()]
    dense = [name for name in names if name not in sparse]
    where = f"--optimizer {optimizer.name}"
    if sparse and (spec.clip_norm is not None or spec.clip_value is not None):
        option = "--clip-norm" if spec.clip_norm is not None else "--clip-value"
        raise GradcliError(
            f"{option}: torch.nn.utils cannot clip sparse gradients, and --model {spec.model} "
            f"gives one to {', '.join(sparse)} (nn.Embedding(sparse=True)); leave clipping out"
        )
    if sparse:
        wrong = optimizer.refuses(True, hyperparameters)
        if wrong is None and spec.impl == "fused":
            where, wrong = "--impl fused", "torch's fused kernels do not take sparse gradients"
        if wrong is not None:
            takers = [o.name for o in optimizers.catalog().values() if o.gradients != "dense"]
            use = f"{', '.join(takers[:-1])} or {takers[-1]}"
            hint = f"; use {use}" if optimizer.gradients == "dense" else ""
            raise GradcliError(
                f"{where}: {wrong}, and --model {spec.model} gives one to {', '.join(sparse)} "
                f"(nn.Embedding(sparse=True)){hint}"
            )
    if dense and optimizer.refuses(False, hyperparameters) is not None:
        hint = f"; use --model {optimizer.problem}" if optimizer.problem else ""
        raise GradcliError(
            f"{where}: {optimizer.refuses(False, hyperparameters)} (nn.Embedding(sparse=True)), "
            f"and --model {spec.model} gives dense ones to {', '.join(dense)}{hint}"
        )


def data_request(options: Mapping[str, Any] | RunSpec) -> Request:
    """What ``--data`` and its options ask to load."""
    get = options.get if isinstance(options, Mapping) else partial(getattr, options)
    return Request(
        get("data"),
        get("target"),
        get("val_fraction"),
        get("data_seed") or 0,
        get("data_dir"),
        get("task"),
    )


def build_problem(
    spec: RunSpec, device: torch.device, shard: Shard | None = None
) -> tuple[nn.Module, Feed | None]:
    """What ``spec`` trains: a problem whose ``forward()`` is the loss, or with ``--data``
    a network and the feed of batches its loss is computed on (``shard``: this process's
    part under data parallelism, its batches drawn by a ``DistributedSampler``)."""
    dtype = getattr(torch, spec.dtype)
    if spec.data is None:
        return problems.build(spec.model, seed=spec.seed, dtype=dtype, device=device), None
    from gradcli.data import load, models

    data = load(data_request(spec))
    model = models.build(spec.model, data, seed=spec.seed, dtype=dtype, device=device)
    feed = Feed(data, **feed_options(spec, data), dtype=dtype, device=device, shard=shard)
    return model, feed


def feed_options(spec: RunSpec, data: DataSet) -> dict[str, Any]:
    """``Feed``'s keyword options, from the run's."""
    return {
        "batch_size": spec.batch_size or len(data.x_train),
        "shuffle": spec.shuffle,
        "drop_last": spec.drop_last,
        "data_seed": spec.data_seed,
        "loss": spec.loss,
        "accumulate": spec.accumulate,
    }


def describe_batches(spec: RunSpec, feed: Feed) -> str:
    """``batches of 64, 23 per epoch, shuffled · 5 epochs · cross-entropy`` (sharded:
    ``batches of 64 per rank (128 in all, by DistributedSampler), ...``)."""
    if feed.shard is None:
        size = str(spec.batch_size or len(feed.data.x_train))
        if feed.accumulate > 1:  # the batches are micro-batches: K of them an update
            size += f" × {feed.accumulate} accumulated (updates of {int(size) * feed.accumulate})"
    else:  # the batch size is each rank's (without one: all of a rank's samples)
        each = spec.batch_size or len(feed.sampler or ())
        size = f"{each} per rank ({each * feed.shard.world} in all, by DistributedSampler)"
    order = "shuffled" if spec.shuffle else "in order"
    last = ", last dropped" if spec.drop_last else ""
    epochs = spec.steps / feed.batches if feed.batches else 0
    length = f"{epochs:.3g} epoch" + "s" * (epochs != 1)
    per = " · scheduler.step() per epoch" if spec.schedule and spec.schedule_per == "epoch" else ""
    return (
        f"batches of {size}, {feed.batches} per epoch, {order}{last} · {length} · "
        f"{feed.loss_name}{per}"
    )


def _scheduler_steps(spec: RunSpec, feed: Feed | None, steps: int) -> int:
    """How many times the schedule stepped in ``steps`` steps: once each, or once an epoch
    (``--schedule-per epoch``)."""
    if feed is not None and spec.schedule_per == "epoch":
        return steps // feed.batches
    return steps


def prepare(
    spec: RunSpec, path: str, device: torch.device | None = None, shard: Shard | None = None
) -> tuple[Training, RunInfo]:
    """Build the problem and the update for ``spec`` on ``path`` (manual or optim), and
    load ``spec.resume`` into them if given. ``device``: where to run when the caller has
    chosen (a ``gradcli ddp`` rank: its own GPU); by default ``spec.device``. ``shard``:
    with ``--data``, this rank's part of every batch (``gradcli ddp``)."""
    device = resolve_device(spec.device) if device is None else device
    if spec.save is not None:
        checkpoint.check_target(spec.save)
    problem, feed = build_problem(spec, device, shard)
    threads.suit(problem, device)

    optimizer = spec.optimizer_info
    lr = optimizers.default_lr(optimizer, spec.model, problem) if spec.lr is None else spec.lr
    hyperparameters = spec.hyperparameters()
    check_gradients(spec, problem)
    if problems.sparse_gradients(problem):
        # torch's default, made explicit: else each sparse tensor built warns that it is
        torch.sparse.check_sparse_tensor_invariants.disable()
    params = list(problem.parameters())
    clipping = Clipping.of(spec)
    impl = spec.impl if path == "manual" else impl_kwargs(optimizer, spec.impl, device)

    def make_update(params: list[nn.Parameter]) -> ManualUpdate | OptimUpdate:
        if path == "manual":
            return ManualUpdate(params, optimizer, lr, hyperparameters, spec.impl, clipping)
        return OptimUpdate(params, optimizer, lr, hyperparameters, impl, clipping)

    update = make_update(params)
    if spec.amp == "fp16":  # (not in make_update: check_state_fits probes without one)
        update.scaler = make_scaler(spec, path, device)
    start = 0
    fed: list[float] = []
    if spec.resume is not None:
        saved = checkpoint.load(spec.resume)
        state = checkpoint.restore(spec.resume, saved, problem, params, asdict(spec))
        check_state_fits(spec.resume, problem, make_update, state, saved["config"], hyperparameters)
        update.load_state(state)
        checkpoint.restore_scaler(spec.resume, saved, update, spec.amp, spec.growth_interval)
        start = int(saved["step"])
        fed = checkpoint.schedule_losses(
            spec.resume, saved, spec.schedule, _scheduler_steps(spec, feed, start)
        )
        if feed is not None:
            checkpoint.restore_feed(spec.resume, saved, feed, start)
    schedule = spec.schedule_spec
    if schedule is not None:
        check_schedule_and_clipping(spec, start)
        # the steps a checkpoint did, replayed: ReduceLROnPlateau with the losses it was fed
        needs_loss = schedule.scheduler.needs_loss
        stepped = _scheduler_steps(spec, feed, start)
        update.start_schedule(schedule, list(fed) if needs_loss else [None] * stepped)
    explainer = None
    if spec.explain:
        explainer = partial(explain_line, optimizer.explain, hyperparameters)
    info = RunInfo(
        path,
        spec.model,
        spec.optimizer,
        lr,
        hyperparameters,
        str(device),
        spec.dtype if spec.amp is None else f"{spec.dtype}, autocast {spec.amp}",
        start + spec.steps,
        None if schedule is None else schedule.text,
        None if clipping is None else clipping.describe(),
        None if feed is None else feed.data.describe(),
        None if feed is None else describe_batches(spec, feed),
        None if update.scaler is None else describe_scaler(spec, device),
    )
    last = start + spec.steps
    training = Training(
        problem,
        update,
        spec.steps,
        lambda step: spec.shows(step, last),
        start,
        spec.state,
        explainer,
    )
    training.fed = list(fed)
    if feed is not None:
        training.feed = feed
        training.forward = partial(feed.loss, problem)
        training.schedule_per_epoch = spec.schedule is not None and spec.schedule_per == "epoch"
    if spec.amp is not None:
        training.autocast = autocast(spec.amp, device)
    if spec.accumulate > 1:
        training.micro_batches = (
            Slices(problem, spec.accumulate, spec.model) if feed is None else Batches(feed, problem)
        )
    if spec.explain and schedule is not None:
        per = "epoch" if training.schedule_per_epoch else "step"  # (the scheduler's steps)
        training.explain_lr = partial(explain_lr, schedule, lr, hyperparameters, per)
    return training, info


def make_scaler(spec: RunSpec, path: str, device: torch.device) -> Any:
    """``--amp fp16``'s gradient scaler: torch's on the optim path, by hand on the manual."""
    if path == "manual":
        return HandScaler(spec.loss_scale, spec.growth_interval)
    return torch.amp.GradScaler(
        device.type, init_scale=spec.loss_scale, growth_interval=spec.growth_interval
    )


def describe_scaler(spec: RunSpec, device: torch.device) -> str:
    """``GradScaler("cpu", init_scale=65536, growth_interval=2000)``."""
    return (
        f'GradScaler("{device.type}", init_scale={spec.loss_scale:g}, '
        f"growth_interval={spec.growth_interval})"
    )


def save_checkpoint(training: Training, spec: RunSpec) -> None:
    """Write ``spec.save``: the state after the last step ``training`` completed."""
    assert spec.save is not None
    done = training.start + (
        training.steps if training.stopped_at is None else training.stopped_at - training.start
    )
    params = list(training.problem.parameters())
    saved = checkpoint.build(training.problem, params, training.update.state, done, asdict(spec))
    saved["end"] = training.start + training.steps  # where the run was to end: a stopped
    # one (Ctrl-C, a closed pipe, the model's failure) is finished by --resume alone
    if training.fed:
        saved["schedule_losses"] = list(training.fed)
    if training.feed is not None:
        saved["feed"] = training.feed.state_dict(done)
    if training.update.scaler is not None:  # --amp fp16: after the last update() done
        saved["grad_scaler"] = training.update.scaler_state()
    checkpoint.save(spec.save, saved)
