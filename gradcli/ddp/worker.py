"""One worker of ``gradcli ddp``: the set-up and the loop of every command, plus what a rank
adds.

Each rank sets the run up as ``optim`` and ``manual`` do (``prepare``, on its own device),
keeps its shard of the data and runs ``Training`` — the one loop — with these hooks:

- ``forward``: ``DistributedDataParallel``'s wrapper on ``--path ddp`` (it averages the
  gradients during ``backward()``);
- ``after_backward``: on ``--path manual``, keep this rank's own gradient, then average by
  hand: ``all_reduce(grad, SUM)``, ``grad /= world_size``;
- ``before_update``: on ``--path ddp``, for a step that is shown, this rank's own gradient
  (DDP averaged it away), from a second backward of the unwrapped model (with
  ``--accumulate``: the step's micro-batches again, by the same loop);
- ``micro_context``: with ``--accumulate K`` on ``--path ddp``, DDP's ``no_sync()`` around
  the first K − 1 micro-batches, so the gradients are all-reduced once an update (on
  ``--path manual``, ``after_backward`` runs once, after the last micro-batch, anyway);
  ``Syncs`` counts the all-reduces of each step for its record;
- ``should_stop`` and ``finite_everywhere``: Ctrl-C and divergence decided by all ranks
  together, so that every rank stops after the same step and gathers the same steps;
- ``schedule_loss``: ReduceLROnPlateau is fed the mean loss over ranks (one lr for all);
- ``complete_record``: each shown step's record, completed on rank 0 with every rank's loss
  and gradient and how far the ranks' parameters differ, for the usual sinks.

With ``--amp`` each rank's forward runs under autocast, and with fp16 each rank has its own
scaler (``GradScaler`` on ``--path ddp``, ``HandScaler`` on ``--path manual``). The gradients
are all-reduced still scaled, so an inf on any rank is in every rank's sum: every rank finds
it in ``unscale_()`` and skips the same step, with no collective of the scaler's own. A
rank's own gradient in the records is unscaled as ``unscale_()`` leaves ``.grad``.

With ``--data`` a rank does not shard a problem: its ``Feed`` draws its own batches through a
``DistributedSampler`` (``Shard(rank, world)``, ``set_epoch`` each epoch), and the feed's sums
are all-reduced, so an epoch's record holds the training loss and accuracy over every rank's
batches and the held-out loss and accuracy evaluated on all ranks, each its contiguous share.
With ``--accumulate K`` an update takes K of the rank's batches, and with ``--amp`` they run
under autocast; rank 0 checks each step's averaged gradient against one process's gradient
of every rank's batches joined (``gradcli.ddp.together``), relatively under autocast.
"""

from __future__ import annotations

import inspect
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gradcli._startup import collector
from gradcli.data.feed import Feed, Shard
from gradcli.ddp.options import DdpOptions
from gradcli.ddp.together import AllRanks, JoinedGradient
from gradcli.errors import Diverged, GradcliError, Interrupted
from gradcli.measure import values_of
from gradcli.pictures.live import Keeping
from gradcli.records import EpochRecord, RankRecord, StepRecord
from gradcli.render import make_sink
from gradcli.saved_runs import Run
from gradcli.spec import RunSpec
from gradcli.train.accumulation import Slices, accumulate, gap_in_ulps
from gradcli.train.interrupt import StopRequest, interruptible
from gradcli.train.loop import Training
from gradcli.train.loss_scaling import Unscaled, inverse
from gradcli.train.precision import under
from gradcli.train.setup import feed_options, prepare, resolve_device
from gradcli.usercode import UserCodeFailed, user_code

AMP_TOLERANCE = {"bf16": 5e-2, "fp16": 2e-2}
AMP_BITS = {"bf16": 8, "fp16": 11}  # significant bits: 1 ULP of 1 is 2^-(bits - 1)
GRADIENT_ULPS = 8


def tolerance(dtype: str, amp: str | None = None) -> float:
    """How close distributed and single-process parameters are expected to stay. With
    --amp the forward's products are rounded to bfloat16 (8 significant bits) or float16
    (11), and a rank's share of the batch rounds otherwise than the full batch: measured on
    linear and mlp, 2 and 4 workers, 100 steps of SGD with momentum and Adam, the gap
    reached 0.011 (bf16) and 0.0087 (fp16)."""
    if amp is not None:
        return AMP_TOLERANCE[amp]
    return 1e-4 if dtype == "float32" else 1e-10


def gradient_tolerance(amp: str) -> float:
    """How far, relative to its largest element, the averaged gradient of a step under
    --amp may be from one process's gradient of every rank's batches joined (``--data``).

    Under autocast each product of the forward and the backward is rounded to bfloat16 (8
    significant bits) or float16 (11), off by at most u = 2^-8 or 2^-11 of what it rounds
    (the unit roundoff). The ranks round other sums than the one process does (a weight's
    gradient sums over a rank's share of the samples, then the shares are averaged in
    float32), and an element passes a few such roundings a layer on either side: the two
    differ by a few u of the gradient's size. Measured on digits (linear, mlp, cnn; 2 to 4
    ranks; SGD and Adam; --accumulate 1 and 2; up to 3 epochs): at most 1.4u (bf16) and
    1.7u (fp16). Allowed: 8u, 0.031 (bf16) and 0.0039 (fp16); a gradient averaged wrongly
    (a rank's part lost: 1/world of it) is off by far more, for a few ranks."""
    return GRADIENT_ULPS * 2.0 ** -AMP_BITS[amp]


def worker(
    rank: int, world: int, spec: RunSpec, options: DdpOptions, init: str, stop: Any = None
) -> None:
    """One rank: its shard, its gradient, the average, the update; rank 0 reports."""
    if stop is not None:  # spawned by launch(), which owns Ctrl-C and a closed terminal
        for signum in (signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
    # what torchrun sets, so that a user's model can tell the ranks apart either way
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    folder = os.path.dirname(init.removeprefix("file://")) if init.startswith("file:") else None
    device = resolve_device(spec.device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        device = torch.device("cuda", rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend,
        init_method=init,
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=options.timeout),
    )
    try:
        _train(rank, world, spec, options, device, stop, folder)
    except (Interrupted, Diverged) as ended:
        if stop is None:
            raise  # under torchrun: the CLI says it and exits 130 or 3
        if rank == 0 and folder is not None:  # the launcher reports it
            news = ("stopped", str(ended.step)) if isinstance(ended, Stopped) else None
            news = news or ("diverged", str(ended))
            _tell(folder, *news)
    except Exception as error:
        # When one worker fails, its peers fail next, inside a collective ("connection reset
        # by peer"). Note when each failed, so the launcher can report the first: the cause.
        if folder is not None:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            if isinstance(error, UserCodeFailed) and not first.startswith("--model "):
                first = f"--model {spec.model}: {first}"  # (its forward(), mid-run)
            said = f"rank {rank}: {first or type(error).__name__}"
            _tell(folder, f"failed-{rank}", f"{time.monotonic()}\n{said}")
        raise
    finally:
        dist.destroy_process_group()


def _tell(folder: str, name: str, text: str) -> None:
    with open(os.path.join(folder, name), "w") as file:
        file.write(text)


class Stopped(Interrupted):
    def __init__(self, step: int, steps: int) -> None:
        super().__init__(f"stopped after step {step} of {steps}")
        self.step = step


class Syncs:
    """Counts how many times a step's gradients are all-reduced: by hand, each call of the
    averaging; under DDP, each backward pass in which DDP's communication hook ran, however
    many buckets it reduced in that pass. The hook (``hook``) does what DDP does without one,
    bit for bit: each gradient times 1/world as it lies in the bucket, then the sum over the
    ranks (torch's own ``allreduce_hook`` divides by world instead, which rounds otherwise
    when world is no power of two)."""

    def __init__(self) -> None:
        self.forwards = 0  # DDP's forward passes so far (each one's backward may sync)
        self.passes: set[int] = set()  # those whose backward all-reduced, by number
        self.by_hand = 0
        self.last = 0  # the count of the step done last

    def counted(self, forward: Callable[[], Tensor]) -> Callable[[], Tensor]:
        """``forward``, numbering its calls (the backward that follows is that pass's)."""

        def numbered() -> Tensor:
            self.forwards += 1
            return forward()

        return numbered

    def hook(self, state: object, bucket: dist.GradBucket) -> torch.futures.Future[Tensor]:
        """DDP's averaging of one bucket, counted (``register_comm_hook``'s signature)."""
        self.passes.add(self.forwards)
        buffer = bucket.buffer()
        buffer.mul_(1.0 / dist.get_world_size())
        reduced = dist.all_reduce(buffer, op=dist.ReduceOp.SUM, async_op=True)
        return reduced.get_future().then(lambda done: done.value()[0])  # type: ignore[union-attr]

    def count(self) -> None:
        self.by_hand += 1

    def done(self) -> None:
        """The step's gradients are final: keep its count, start the next step's."""
        self.last = self.by_hand + len(self.passes)
        self.passes.clear()
        self.by_hand = 0


def _accumulated(training: Training, params: list[nn.Parameter]) -> list[Tensor]:
    """This rank's own gradient of an accumulated step, computed again on the model itself
    (not DDP's wrapper) by the very loop of the step (``accumulate``), so it is the bits the
    hand-written path keeps; and what the record says of the micro-batches (what each added,
    the gap to one batch) measured on it, as that path measures them before averaging. The
    averaged gradients in ``.grad`` are put back after."""
    micro = training.micro_batches
    assert micro is not None
    averaged = [p.grad for p in params]
    for p in params:
        p.grad = None
    autocast, scale, unscaled = training.autocast, training.update.scale_loss, training.unscaled
    feed = training.feed  # (with --data: the update's batches again, counted once already)
    model = training.problem
    forward = model if feed is None else partial(feed.loss, model, count=False)
    forward = forward if autocast is None else under(autocast, forward)
    try:
        _, losses, norms = accumulate(micro, forward, list(params), True, scale)
        if unscaled is not None and norms is not None:  # what each added, unscaled, as the
            norms = norms / unscaled.scale.double()  # loop has it
        training.micro = (losses, norms, gap_in_ulps(micro, list(params), autocast, scale))
        grads = [p.grad.detach() if p.grad is not None else torch.zeros_like(p) for p in params]
        return _unscaled(grads, unscaled)
    finally:
        for p, grad in zip(params, averaged, strict=True):
            p.grad = grad


def _unscaled(grads: list[Tensor], unscaled: Unscaled | None) -> list[Tensor]:
    """This rank's own gradients as ``unscale_()`` leaves ``.grad`` (--amp fp16: each times
    float32(1/S)); as they are without a scaler."""
    if unscaled is None:
        return grads
    inv_scale = inverse(unscaled.scale)
    return [grad * inv_scale for grad in grads]


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def _unflatten(flat: Tensor, params: list[nn.Parameter]) -> list[Tensor]:
    return [
        t.view(p.shape)
        for t, p in zip(flat.split([p.numel() for p in params]), params, strict=True)
    ]


def _train(
    rank: int,
    world: int,
    spec: RunSpec,
    options: DdpOptions,
    device: torch.device,
    stop_event: Any,
    folder: str | None,
) -> None:
    # the set-up of every run, on this rank's device; the problem whole until it is sharded
    # (with --data: the rank's batches drawn by a DistributedSampler from the start)
    path = "manual" if options.path == "manual" else "optim"
    shard = Shard(rank, world) if spec.data is not None else None
    training, info = prepare(spec, path, device, shard)
    feed = training.feed
    if feed is not None:  # the epoch's sums and the evaluations, over every rank
        feed.reduce = partial(dist.all_reduce, op=dist.ReduceOp.SUM)
    model = training.problem
    params = list(model.parameters())
    names = [n for n, _ in model.named_parameters()]
    own_grads: list[Tensor] = []  # this rank's gradient of the current step, before averaging
    syncs = Syncs()  # how many times this step's gradients were all-reduced

    def average_by_hand() -> None:
        own_grads[:] = [p.grad.detach().clone() for p in params]  # type: ignore[union-attr]
        for p in params:  # sum over ranks, divide by their number
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)  # type: ignore[arg-type]
            p.grad.div_(world)  # type: ignore[union-attr]
        syncs.count()

    def own_gradient(step: int, shown: bool) -> None:
        syncs.done()
        if not shown:
            return
        # DDP already averaged: this rank's own gradient, from its own shard
        if training.micro_batches is not None:  # accumulated as the step did, unwrapped
            own_grads[:] = _accumulated(training, params)
            return
        with training.autocast() if training.autocast is not None else nullcontext():
            loss = model() if feed is None else feed.loss(model)
        grads = torch.autograd.grad(training.update.scale_loss(loss), params)
        own_grads[:] = _unscaled([g.detach() for g in grads], training.unscaled)

    def unscale_own_gradient(step: int, shown: bool) -> None:
        syncs.done()
        if shown:  # kept before unscale_(): with --amp fp16, S times this rank's gradient
            own_grads[:] = _unscaled(own_grads, training.unscaled)

    if options.path == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        # Without --data the data are buffers and differ by rank: DDP must not broadcast
        # rank 0's over them (it does at construction, and before every forward unless told
        # not to), so the shard is taken after wrapping. A network on its batches: as usual.
        takes = inspect.signature(DistributedDataParallel.__init__).parameters
        keep = (
            {"forward_sync_buffers": False}
            if "forward_sync_buffers" in takes
            else {"broadcast_buffers": False}
        )  # the name before torch 2.11
        wrapped = DistributedDataParallel(model, **({} if feed is not None else keep))
        # (a lambda: DDP refuses a hook whose annotations are strings, as this module's are)
        wrapped.register_comm_hook(None, lambda state, bucket: syncs.hook(state, bucket))
        training.forward = syncs.counted(wrapped if feed is None else partial(feed.loss, wrapped))
        training.before_update = own_gradient
        if spec.accumulate > 1:  # all but the last micro-batch accumulate on the rank alone
            last = spec.accumulate - 1
            training.micro_context = lambda index: (
                wrapped.no_sync() if index < last else nullcontext()
            )
    else:
        training.after_backward = average_by_hand
        training.before_update = unscale_own_gradient
    check = None
    if feed is not None and rank == 0:  # each step: the average vs every rank's batch joined
        joined = AllRanks(feed.data, world, **feed_options(spec, feed.data), **_where(feed))
        check = JoinedGradient(model, joined, training.autocast, training.update.scale_loss)
        training.after_backward = _then(training.after_backward, check)
    if feed is None:
        with user_code(f"--model {spec.model}: shard({rank}, {world})"):
            model.shard(rank, world)  # type: ignore[operator]
        if spec.accumulate > 1:  # the micro-batches are slices of this rank's shard
            training.micro_batches = Slices(model, spec.accumulate, spec.model)

    sink = make_sink(spec.output) if rank == 0 else None
    kept = Keeping(sink) if sink is not None and options.plot_file is not None else None
    sink = kept or sink  # rank 0 keeps the records for --plot-file
    # rank 0's stdout failed (its reader went away, a full disk): every rank stops after
    # this step, and the launcher says why
    failed: list[OSError] = []

    def show(write: Callable[[], None]) -> None:
        if sink is None or failed:
            return
        try:
            write()
            sys.stdout.flush()  # (a table's rows too: a failure shows up at its step)
        except OSError as error:
            failed.append(error)
            _quiet_stdout(folder, error)

    # under torchrun, this rank's signals are its own; spawned, they are the launcher's
    with interruptible() if stop_event is None else nullcontext(StopRequest()) as interrupt:

        def should_stop() -> bool:
            asked = bool(failed) or interrupt.is_set()
            asked = asked or bool(stop_event and stop_event.is_set())
            return _any_rank(asked, device)

        training.should_stop = should_stop
        training.finite_everywhere = lambda finite: not _any_rank(not finite, device)
        training.schedule_loss = lambda loss: _mean_over_ranks(loss, world, device)
        training.complete_record = lambda record: _gather(
            rank, world, record, names, params, own_grads, device, syncs.last
        )
        if sink is not None:
            show(partial(sink.start, replace(info, command="ddp")))
        collector.resume()  # start-up is over (also in a process that torchrun started)
        for record in training:
            if sink is not None:
                show(partial(sink.epoch if isinstance(record, EpochRecord) else sink.step, record))
    if failed:
        if folder is None and not isinstance(failed[0], BrokenPipeError):
            raise failed[0]  # under torchrun: the command line says it, exit 74
        return
    if training.diverged is not None:
        raise Diverged(f"{training.diverged}; try a smaller --lr (this run used {info.lr:g})")
    if training.stopped_at is not None:
        raise Stopped(training.stopped_at, spec.steps)
    if check is not None:
        _report_gradient_check(spec, options, world, check)
    elif rank == 0:
        skipped = None if training.skipped is None else int(training.skipped.item())
        _compare_with_single_process(spec, options, world, model, info.lr, skipped)
    if kept is not None and options.plot_file is not None:
        from gradcli.pictures import live
        from gradcli.pictures.request import Request

        run = Run(f"{info.optimizer} (ddp, {world} ranks)", kept.records, info.lr)
        live.show(Request(file=options.plot_file), [run], model, spec.output, info=info)


def _where(feed: Feed) -> dict[str, Any]:
    return {"dtype": feed.dtype, "device": feed.device}


def _then(first: Callable[[], None] | None, second: Callable[[], None]) -> Callable[[], None]:
    """``first`` (when there is one), then ``second``."""
    if first is None:
        return second

    def both() -> None:
        first()
        second()

    return both


def _mean_over_ranks(loss: float, world: int, device: torch.device) -> float:
    """The mean of every rank's loss (what ReduceLROnPlateau is fed, so that all ranks keep
    one lr; a collective: every rank calls it)."""
    value = torch.tensor([loss], dtype=torch.float64, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return float(value.item()) / world


def _any_rank(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is true on at least one rank (a collective: every rank calls it)."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _quiet_stdout(folder: str | None, error: OSError) -> None:
    """stdout failed: tell the launcher (``closed``: its reader went away; ``unwritable``:
    the error's number and reason), and drop what is still buffered."""
    if folder is not None and isinstance(error, BrokenPipeError):
        _tell(folder, "closed", "")
    elif folder is not None:
        _tell(folder, "unwritable", f"{error.errno or 0} {error.strerror or type(error).__name__}")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _gather(
    rank: int,
    world: int,
    record: StepRecord,
    names: list[str],
    params: list[nn.Parameter],
    own_grads: list[Tensor],
    device: torch.device,
    all_reduces: int,
) -> StepRecord:
    """Bring every rank's loss, own gradient and parameters to rank 0; there, the record
    with the ranks' part filled in (elsewhere, as it is: only rank 0 shows records). A
    collective: every rank calls it for every record."""
    pieces = [_flat(list(params))]
    if record.step > 0:
        loss = torch.tensor([record.loss or 0.0], dtype=torch.float64, device=device)
        pieces = [loss, _flat(own_grads), *pieces]
    mine = torch.cat([p.to(torch.float64) for p in pieces])
    everyone = [torch.empty_like(mine) for _ in range(world)] if rank == 0 else None
    dist.gather(mine, everyone, dst=0)
    if everyone is None:
        return record
    everyone = [e.cpu() for e in everyone]
    count = sum(p.numel() for p in params)
    values_at = 0 if record.step == 0 else 1 + count
    rank_params = [e[values_at : values_at + count] for e in everyone]
    spread = max(float((r - rank_params[0]).abs().max()) for r in rank_params)
    if record.step == 0:
        return replace(record, ranks=(), max_param_diff_across_ranks=spread)
    ranks = tuple(
        RankRecord(
            r,
            float(e[0]),
            {
                n: values_of(g)
                for n, g in zip(names, _unflatten(e[1 : 1 + count], params), strict=True)
            },
        )
        for r, e in enumerate(everyone)
    )
    mean = math.fsum(r.loss for r in ranks) / world
    return replace(
        record,
        loss=mean,
        ranks=ranks,
        max_param_diff_across_ranks=spread,
        all_reduces=all_reduces,
    )


def _compare_with_single_process(
    spec: RunSpec,
    options: DdpOptions,
    world: int,
    model: nn.Module,
    lr: float,
    skipped: int | None = None,
) -> None:
    """Train the whole problem in this one process and say how close the workers came.
    With --amp fp16 (``skipped``: on how many steps the ranks skipped the update), where
    the one process skipped a different number of steps the parameters are not compared:
    a rank's scaled gradient can overflow float16 where the full batch's mean does not, or
    the other way round, and a step taken on one side only is no rounding."""
    single, _ = prepare(
        replace(
            spec,
            every=max(spec.steps, 1),
            lr=lr,
            save=None,
            resume=None,
            state=False,
            explain=False,
            accumulate=1,  # the full batch at once
        ),
        "manual" if options.path == "manual" else "optim",
    )
    for _ in single:
        pass
    steps = f"{spec.steps} step" + ("" if spec.steps == 1 else "s")
    versus = f"gradcli: ddp ({options.path}, {_workers(world)}) vs one process on the full batch"
    single_skipped = None if single.skipped is None else int(single.skipped.item())
    if skipped is not None and single_skipped != skipped:
        spec.output.say(
            f"{versus}: not compared, the ranks skipped {skipped} of {steps} (inf/NaN "
            f"gradients) and one process {single_skipped} (float16 overflows in a rank's "
            "scaled gradient, or in the full batch's, alone)"
        )
        return
    gap = max(
        float((a.detach().double().cpu() - b.detach().double().cpu()).abs().max())
        for a, b in zip(model.parameters(), single.problem.parameters(), strict=True)
    )
    limit = tolerance(spec.dtype, spec.amp)
    within = gap <= limit  # (False for NaN too)
    dtype = spec.dtype if spec.amp is None else f"{spec.dtype}, autocast {spec.amp}"
    both = "" if skipped is None else f"; {skipped} of {steps} skipped on both (inf/NaN gradients)"
    spec.output.say(
        f"{versus}: max |difference| {gap:.3g} after {steps}, "
        f"{'within' if within else 'OUTSIDE'} the tolerance {limit:g} for {dtype}{both}"
    )
    if not within:
        raise GradcliError(
            f"the distributed run drifted {gap:.3g} from single-process "
            f"training, more than {limit:g}"
        )


def _report_gradient_check(
    spec: RunSpec, options: DdpOptions, world: int, check: JoinedGradient
) -> None:
    """Say how close each step's averaged gradient came to one process's gradient of every
    rank's batch joined (``gradcli.ddp.together``); out of the tolerance: an error. With
    --amp the gap is relative to the gradient's largest element (``gradient_tolerance``)."""
    gap = check.largest()
    limit = tolerance(spec.dtype) if spec.amp is None else gradient_tolerance(spec.amp)
    within = gap <= limit  # (False for NaN too)
    steps = f"{check.steps} step" + ("" if check.steps == 1 else "s")
    what = (  # (without --amp: absolute up to a largest element of 1, relative past it)
        "max gradient difference (relative past 1)"
        if spec.amp is None
        else "max relative gradient difference"
    )
    dtype = spec.dtype if spec.amp is None else f"{spec.dtype}, autocast {spec.amp}"
    skipped = (
        f"; {check.skipped} of {steps} not compared (inf/NaN gradients: skipped)"
        if check.skipped
        else ""
    )
    spec.output.say(
        f"gradcli: ddp ({options.path}, {_workers(world)}) vs one process on every rank's "
        f"batches joined: {what} {gap:.3g} over {steps}, "
        f"{'within' if within else 'OUTSIDE'} the tolerance {limit:g} for {dtype}{skipped}"
    )
    if not within:
        raise GradcliError(
            f"the averaged gradient drifted {gap:.3g} from one process's gradient of every "
            f"rank's batches joined, more than {limit:g}"
        )


def _workers(world: int) -> str:
    """``1 worker``, ``2 workers``."""
    return f"{world} worker" + ("" if world == 1 else "s")
