"""``gradcli ddp``: data-parallel training on torch.distributed, by hand and with DDP.

Each of N worker processes holds one shard of the problem's data and computes the gradient of
its own shard's loss. Before the update the gradients are averaged across workers:

- ``--path manual``: ``dist.all_reduce(grad, SUM)`` then ``grad /= world_size``, then the
  hand-written rule from the optimizer catalog (``gradcli.optimizers``);
- ``--path ddp``: ``DistributedDataParallel`` averages them during ``backward()``, then
  ``torch.optim``.

With equal shards, the average of the shards' mean losses is the full batch's mean loss, so
both paths follow single-process full-batch training — up to rounding, since the order of a
reduction changes the last bits. Rank 0 prints; every rank checks it holds the same parameters.
"""

from __future__ import annotations

import inspect
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gradcli import optimizers, problems
from gradcli._startup import collector, threads
from gradcli.errors import GradcliError, Interrupted
from gradcli.records import values_of
from gradcli.render.numbers import dumps, json_values
from gradcli.spec import RunSpec
from gradcli.train.interrupt import interruptible
from gradcli.train.setup import resolve_device
from gradcli.train.updates import ManualUpdate, OptimUpdate

PATHS = ("manual", "ddp")


@dataclass(frozen=True)
class DdpOptions:
    nproc: int
    path: str
    timeout: float


def check_shardable(spec: RunSpec, world: int) -> None:
    """Fail in the launcher, before any worker starts, for a problem that cannot be split."""
    model = problems.build(
        spec.model, seed=spec.seed, dtype=torch.float32, device=torch.device("cpu")
    )
    shard = getattr(model, "shard", None)
    if shard is None:
        raise GradcliError(
            f"--model {spec.model} has no data to shard across workers; "
            "choose a model that owns a data set (linear, mlp)"
        )
    samples = model.samples()
    if samples % world:
        raise GradcliError(
            f"--nproc {world}: model {spec.model} has {samples} samples, which "
            f"do not split evenly; choose --nproc dividing {samples}"
        )


def tolerance(dtype: str) -> float:
    """How close distributed and single-process parameters are expected to stay."""
    return 1e-4 if dtype == "float32" else 1e-10


def launch(spec: RunSpec, options: DdpOptions) -> None:
    """Run the workers: in this process under torchrun, else as ``nproc`` child processes."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun started us
        world = int(os.environ["WORLD_SIZE"])
        check_shardable(spec, world)
        worker(int(os.environ["RANK"]), world, spec, options, "env://")
        return
    check_shardable(spec, options.nproc)
    import torch.multiprocessing as mp

    # This process owns Ctrl-C: the workers ignore SIGINT and watch ``stop`` instead, so a
    # terminal's Ctrl-C (sent to the whole process group) and a SIGINT to this process alone
    # both end every worker together, after the same step.
    stop = mp.get_context("spawn").Event()
    with tempfile.TemporaryDirectory(prefix="gradcli-ddp-") as folder, interruptible() as interrupt:
        store = f"file://{folder}/store"  # a file store: no port to race for
        context = mp.start_processes(
            worker,
            args=(options.nproc, spec, options, store, stop),
            nprocs=options.nproc,
            start_method="spawn",
            join=False,
        )
        collector.resume()  # start-up is over: from here this process only waits
        try:
            while not context.join(timeout=0.1):
                if interrupt.is_set():
                    stop.set()
            if os.path.exists(os.path.join(folder, "stopped")):
                raise Interrupted(f"the workers stopped together{_stopped_at(folder)}")

        except mp.ProcessRaisedException as error:
            for process in context.processes:  # let the peers finish failing
                process.join(timeout=options.timeout)
            last = str(error).strip().splitlines()[-1].split(": ", 1)[-1]
            raise GradcliError(f"a worker failed: {_first_failure(folder) or last}") from None

        except mp.ProcessExitedException as error:
            if error.exit_code == 130:
                raise Interrupted(f"the workers stopped together{_stopped_at(folder)}") from None
            raise GradcliError(
                f"a worker ended with {error.exit_code or error.signal_name}; "
                "every worker was stopped"
            ) from None
        except KeyboardInterrupt:  # a second Ctrl-C: stop them now
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
            raise


def _first_failure(folder: str) -> str | None:
    """The message of the worker that failed first (time.monotonic is one clock for all)."""
    failures = []
    for name in os.listdir(folder):
        if name.startswith("failed-"):
            with open(os.path.join(folder, name)) as file:
                when, _, message = file.read().partition("\n")
            failures.append((float(when), message))
    return min(failures)[1] if failures else None


def _stopped_at(folder: str) -> str:

    try:
        with open(os.path.join(folder, "stopped")) as file:
            return f" after step {file.read().strip()}"
    except OSError:
        return ""


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def _unflatten(flat: Tensor, params: list[nn.Parameter]) -> list[Tensor]:
    return [
        t.view(p.shape)
        for t, p in zip(flat.split([p.numel() for p in params]), params, strict=True)
    ]


def worker(
    rank: int, world: int, spec: RunSpec, options: DdpOptions, init: str, stop: Any = None
) -> None:
    """One rank: its shard, its gradient, the average, the update; rank 0 reports."""
    if stop is not None:  # spawned by launch(), which owns Ctrl-C
        signal.signal(signal.SIGINT, signal.SIG_IGN)
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
        _train(rank, world, spec, options, device, stop)
    except Interrupted as stopped:
        if stop is None:
            raise  # under torchrun: the CLI says it and exits 130
        if rank == 0 and init.startswith("file://"):  # the launcher reports it
            folder = os.path.dirname(init.removeprefix("file://"))
            with open(os.path.join(folder, "stopped"), "w") as file:
                file.write(str(stopped.step))
    except Exception as error:
        # When one worker fails, its peers fail next, inside a collective ("connection reset
        # by peer"). Note when each failed, so the launcher can report the first: the cause.
        if init.startswith("file://"):
            folder = os.path.dirname(init.removeprefix("file://"))
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            with open(os.path.join(folder, f"failed-{rank}"), "w") as file:
                file.write(f"{time.monotonic()}\n{first or type(error).__name__}")
        raise
    finally:
        dist.destroy_process_group()


class Stopped(Interrupted):
    def __init__(self, step: int, steps: int) -> None:
        super().__init__(f"stopped after step {step} of {steps}")
        self.step = step


def _train(
    rank: int, world: int, spec: RunSpec, options: DdpOptions, device: torch.device, stop_event: Any
) -> None:

    dtype = getattr(torch, spec.dtype)
    model = problems.build(spec.model, seed=spec.seed, dtype=dtype, device=device)
    threads.suit(model, device)  # each worker: one thread for a small model

    optimizer = spec.optimizer_info
    lr = optimizers.default_lr(optimizer, spec.model, model) if spec.lr is None else spec.lr
    params = list(model.parameters())
    names = [n for n, _ in model.named_parameters()]
    hyper = spec.hyperparameters()
    if options.path == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        # The data are buffers and differ by rank: DDP must not broadcast rank 0's over them
        # (it does at construction, and before every forward unless told not to), so the
        # shard is taken after wrapping.
        takes = inspect.signature(DistributedDataParallel.__init__).parameters
        no_sync = (
            {"forward_sync_buffers": False}
            if "forward_sync_buffers" in takes
            else {"broadcast_buffers": False}
        )  # the name before torch 2.11
        forward: nn.Module = DistributedDataParallel(model, **no_sync)

        update: ManualUpdate | OptimUpdate = OptimUpdate(params, optimizer, lr, hyper)
    else:
        forward = model
        update = ManualUpdate(params, optimizer, lr, hyper)
    model.shard(rank, world)  # type: ignore[operator]

    out = sys.stdout if rank == 0 else None
    output = spec.output
    collector.resume()  # start-up is over (a process that torchrun started)
    with interruptible() as interrupt:
        for step in range(spec.steps + 1):
            shown = spec.shows(step)
            if step > 0:
                update.zero_grad()
                local_loss = forward()
                local_loss.backward()
                if options.path == "manual":
                    local = [p.grad.detach().clone() for p in params]  # type: ignore[union-attr]
                    for p in params:  # average by hand: sum over ranks, divide by their number
                        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)  # type: ignore[arg-type]
                        p.grad.div_(world)  # type: ignore[union-attr]
                elif shown:  # DDP already averaged: recompute this rank's own gradient
                    local = list(torch.autograd.grad(model(), params))
                averaged = [p.grad.detach().clone() for p in params]  # type: ignore[union-attr]
                before = [p.detach().clone() for p in params]
                update.step()
            requested = interrupt.is_set() or (stop_event is not None and stop_event.is_set())
            stop = torch.tensor([1.0 if requested else 0.0], device=device)
            dist.all_reduce(stop, op=dist.ReduceOp.MAX)  # every rank stops at the same step
            if shown or stop.item() or step == spec.steps:
                record = _gather(
                    rank,
                    world,
                    step,
                    names,
                    params,
                    None if step == 0 else (local_loss, local, averaged, before),
                    device,
                )
                if out is not None and record is not None:
                    if output.resolved_format() == "table":
                        from gradcli.render.lessons import ddp_table

                        ddp_table(output.console(out), record, spec.steps)
                    else:
                        out.write(dumps(record) + "\n")
                        out.flush()

            if stop.item() and step < spec.steps:
                raise Stopped(step, spec.steps)
    if rank == 0:
        _compare_with_single_process(spec, options, model, lr, output)


def _gather(
    rank: int,
    world: int,
    step: int,
    names: list[str],
    params: list[nn.Parameter],
    done: tuple[Tensor, list[Tensor], list[Tensor], list[Tensor]] | None,
    device: torch.device,
) -> dict[str, Any] | None:
    """Bring every rank's loss, gradient and parameters to rank 0 and build the record."""
    pieces = [_flat(list(params))]
    if done is not None:
        loss, local, _, _ = done
        pieces = [loss.detach().reshape(1), _flat(local), *pieces]
    mine = torch.cat([p.to(torch.float64) for p in pieces])
    everyone = [torch.empty_like(mine) for _ in range(world)] if rank == 0 else None
    dist.gather(mine, everyone, dst=0)
    if rank != 0 or everyone is None:
        return None
    everyone = [e.cpu() for e in everyone]
    count = sum(p.numel() for p in params)
    values_at = 0 if done is None else 1 + count
    rank_params = [e[values_at : values_at + count] for e in everyone]
    spread = max((float((r - rank_params[0]).abs().max()) for r in rank_params), default=0.0)
    record: dict[str, Any] = {
        "step": step,
        "loss": None,
        "ranks": [],
        "params": {},
        "max_param_diff_across_ranks": spread,
    }
    after = _unflatten(rank_params[0], params)
    if done is None:
        record["params"] = {
            n: {
                "shape": list(p.shape),
                "value": json_values(values_of(a)),
                "grad": None,
                "update": None,
            }
            for n, p, a in zip(names, params, after, strict=True)
        }
        return record
    _, _, averaged, before = done
    losses = [float(e[0]) for e in everyone]
    record["loss"] = math.fsum(losses) / world
    for r, e in enumerate(everyone):
        grads = _unflatten(e[1 : 1 + count], params)
        record["ranks"].append(
            {
                "rank": r,
                "loss": losses[r],
                "grads": {n: json_values(values_of(g)) for n, g in zip(names, grads, strict=True)},
            }
        )
    for n, p, a, g, b in zip(names, params, after, averaged, before, strict=True):
        record["params"][n] = {
            "shape": list(p.shape),
            "value": json_values(values_of(a)),
            "grad": json_values(values_of(g.cpu().double())),
            "update": json_values(values_of(a - b.cpu().double().reshape(-1).view(a.shape))),
        }
    return record


def _compare_with_single_process(
    spec: RunSpec, options: DdpOptions, model: nn.Module, lr: float, output: Any
) -> None:
    """Train the whole problem in this one process and say how close the workers came."""
    from gradcli.train.setup import prepare

    single, _ = prepare(
        replace(
            spec,
            every=max(spec.steps, 1),
            lr=lr,
            save=None,
            resume=None,
            state=False,
            explain=False,
        ),
        "manual" if options.path == "manual" else "optim",
    )
    for _ in single:
        pass
    gap = max(
        float((a.detach().double().cpu() - b.detach().double().cpu()).abs().max())
        for a, b in zip(model.parameters(), single.problem.parameters(), strict=True)
    )
    limit = tolerance(spec.dtype)
    verdict = "within" if gap <= limit else "OUTSIDE"
    steps = f"{spec.steps} step" + ("" if spec.steps == 1 else "s")
    output.say(
        f"gradcli: ddp ({options.path}, {options.nproc} workers) vs one process on the "
        f"full batch: max |difference| {gap:.3g} after {steps}, {verdict} "
        f"the tolerance {limit:g} for {spec.dtype}"
    )
    if gap > limit:
        raise GradcliError(
            f"the distributed run drifted {gap:.3g} from single-process "
            f"training, more than {limit:g}"
        )
