"""``gradcli ddp``'s own options, checked: ``--nproc``, ``--path``, ``--timeout``; and the checks
of a run against the workers before any starts. Importing this module never imports torch."""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gradcli.errors import GradcliError
from gradcli.usercode import user_code

if TYPE_CHECKING:
    from gradcli.spec import RunSpec

PATHS = ("manual", "ddp")
MOST_WORKERS = 64
MAX_TIMEOUT = 365 * 24 * 3600  # a year, in seconds: --timeout at most


@dataclass(frozen=True)
class DdpOptions:
    nproc: int
    path: str
    timeout: float
    plot_file: str | None = None  # rank 0 writes the figure of the run (--plot-file)


def ddp_options(nproc: int, path: str, timeout: float) -> DdpOptions:
    """``--nproc``, ``--path`` and ``--timeout`` checked: a bad one is one line and exit 2."""
    if path not in PATHS:
        raise GradcliError(f"--path: unknown path {path!r}; choose one of: {', '.join(PATHS)}")
    if not 1 <= nproc <= MOST_WORKERS:
        raise GradcliError(f"--nproc must be an integer in [1, {MOST_WORKERS}], got {nproc}")
    if not 0 < timeout <= MAX_TIMEOUT:  # (False for nan; inf is no timedelta)
        raise GradcliError(
            f"--timeout must be a number of seconds in (0, {MAX_TIMEOUT}], got {timeout}"
        )
    return DdpOptions(nproc, path, timeout)


def torchrun_world() -> int | None:
    """The number of workers torchrun started, where it started this process (``RANK`` and
    ``WORLD_SIZE`` are set); else None. What torchrun sets is checked: a rank in
    ``[0, WORLD_SIZE)`` and the rendezvous's ``MASTER_ADDR`` and ``MASTER_PORT``."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    world = _whole("WORLD_SIZE", 1, None)
    _whole("RANK", 0, world - 1)
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(name, "").strip():
            raise GradcliError(
                f"{name} is not set, but RANK and WORLD_SIZE are, as under torchrun: start "
                "gradcli ddp with torchrun, or unset RANK and WORLD_SIZE to let it start "
                "its own workers (--nproc)"
            )
    _whole("MASTER_PORT", 1, 65535)
    return world


def _whole(name: str, least: int, most: int | None) -> int:
    """The environment variable ``name``, a whole number in ``[least, most]``."""
    text = os.environ[name]
    value = int(text) if text.strip().isdecimal() and len(text) < 20 else None
    if value is None or value < least or (most is not None and value > most):
        allowed = f"an integer >= {least}" if most is None else f"an integer in [{least}, {most}]"
        raise GradcliError(
            f"{name} must be {allowed} (torchrun sets it), got {text!r}; start gradcli ddp with "
            "torchrun, or unset RANK and WORLD_SIZE to let it start its own workers (--nproc)"
        )
    return value


def check_run(spec: RunSpec, world: int) -> None:
    """Fail here, before any worker starts: no such device, or a problem that cannot be split
    across ``world`` workers (no data, an optimizer that evaluates the loss itself, samples
    that do not split evenly). Imports torch, to build the problem."""
    import torch

    from gradcli import problems
    from gradcli.train.setup import build_problem, check_gradients, resolve_device

    resolve_device(spec.device)  # no CUDA here: one line
    if spec.data is not None:  # a DistributedSampler deals any number of samples
        from gradcli.data.feed import Shard

        model, _ = build_problem(spec, torch.device("cpu"), Shard(0, world))
    else:
        model = problems.build(
            spec.model, seed=spec.seed, dtype=torch.float32, device=torch.device("cpu")
        )
    shard = getattr(model, "shard", None)
    if spec.data is None and shard is None:
        raise GradcliError(
            f"--model {spec.model} has no data to shard across workers; "
            "choose a model that owns a data set (linear, mlp), or give --data"
        )
    optimizer = spec.optimizer_info
    if optimizer.closure:  # each rank would end its iterations on its own shard's loss
        raise GradcliError(
            f"--optimizer {optimizer.name}: gradcli ddp does not run an optimizer that "
            "evaluates the loss itself: the ranks would stop at different evaluations"
        )
    check_gradients(spec, model)
    if spec.data is not None:
        return
    samples = _samples(spec, model)
    if samples % world:
        raise GradcliError(
            f"--nproc {world}: model {spec.model} has {samples} samples, which "
            f"do not split evenly; choose --nproc dividing {samples}"
        )
    share = samples // world
    if share % spec.accumulate:
        raise GradcliError(
            f"--accumulate {spec.accumulate}: model {spec.model} has {samples} samples, "
            f"{share} a rank with {world} workers, which {spec.accumulate} micro-batches "
            f"cannot share equally; choose a K that divides {share}"
        )
    if spec.accumulate > 1:  # (no data buffers to cut: the one line here, not a worker's)
        from gradcli.train.accumulation import Slices

        Slices(model, spec.accumulate, spec.model)


def _samples(spec: RunSpec, model: object) -> int:
    """The problem's ``samples()``: the user's code, so one line if it fails or returns
    anything but a positive whole number (an ``int``, or what ``operator.index`` takes)."""
    with user_code(f"--model {spec.model}: samples()"):
        samples = model.samples()  # type: ignore[attr-defined]
        whole = not isinstance(samples, bool) and hasattr(type(samples), "__index__")
        count = operator.index(samples) if whole else 0
    if count < 1:
        shown = repr(samples) if isinstance(samples, int | float | str) else type(samples).__name__
        raise GradcliError(
            f"--model {spec.model}: samples() must return a positive integer (the number "
            f"of samples to shard across workers), got {shown[:100]}"
        )
    return count
