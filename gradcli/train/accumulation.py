"""Gradient accumulation (``--accumulate K``): K forward and backward passes, the
micro-batches, before each update.

The loop torch users write, which both paths run (only the update is each path's own)::

    optimizer.zero_grad()
    for x, y in micro_batches:              # K of them: one update's worth
        loss = loss_fn(model(x), y) / K     # divided by K: the losses add up to their mean,
        loss.backward()                     # and .grad, which adds up, to its gradient
    clip_grad_norm_(model.parameters(), max_norm)   # once, after the last micro-batch
    optimizer.step()                        # once; then scheduler.step(), once

With ``--data``, B (``--batch-size``) is the micro-batch, as torch users write it: each
update takes K of the loader's batches, and ``--steps`` and ``--epochs`` count updates. A
full-batch problem's data (its ``data_buffers``) is cut into K equal slices instead.

The claim users rely on: K micro-batches of B give the gradient of one batch of K·B, up to
rounding. ``gap_in_ulps`` measures it at the parameters the update starts from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from gradcli.errors import GradcliError
from gradcli.measure import dense
from gradcli.usercode import user_code


class MicroBatches(Protocol):
    """Where an update's K micro-batches come from."""

    k: int
    module: nn.Module  # what trains (its buffers are restored after the one-batch check)

    def select(self, index: int) -> None:
        """Put micro-batch ``index`` (from 0) where ``forward()`` reads its data."""

    def done(self) -> None:
        """After the last micro-batch: the data as it was (a full-batch problem whole)."""

    def equal(self) -> bool:
        """The K micro-batches are equal in size (else their mean of means is not one
        batch's mean, and the two gradients differ by more than rounding)."""

    def one_batch_loss(self) -> Tensor:
        """The loss of the K micro-batches as one batch of K·B (counted nowhere)."""


class Slices:
    """K equal, contiguous slices of a full-batch problem's data buffers."""

    def __init__(self, problem: nn.Module, k: int, model: str) -> None:
        names: tuple[str, ...] = getattr(problem, "data_buffers", ())
        if not names:
            raise GradcliError(
                f"--accumulate {k}: --model {model} has no data to cut into micro-batches "
                "(its loss is one expression); use it with a problem that holds data (linear, "
                "mlp) or with --data"
            )
        samples = len(getattr(problem, names[0]))
        if samples % k:
            raise GradcliError(
                f"--accumulate {k}: --model {model} has {samples} samples, which {k} "
                f"micro-batches cannot share equally; choose a K that divides {samples}"
            )
        self.problem = self.module = problem
        self.k = k
        self.whole = {name: getattr(problem, name) for name in names}
        self.slices = {name: data.chunk(k) for name, data in self.whole.items()}

    def select(self, index: int) -> None:
        for name, parts in self.slices.items():
            setattr(self.problem, name, parts[index])

    def done(self) -> None:
        for name, data in self.whole.items():
            setattr(self.problem, name, data)

    def equal(self) -> bool:
        return True

    def one_batch_loss(self) -> Tensor:
        self.done()
        return self.problem()


class Batches:
    """With ``--data``: the loader's K batches the feed took for the update."""

    def __init__(self, feed: Any, model: nn.Module) -> None:
        self.feed, self.module, self.k = feed, model, feed.accumulate

    def select(self, index: int) -> None:
        self.feed.select(index)

    def done(self) -> None:
        pass

    def equal(self) -> bool:
        return len({len(y) for _, y in self.feed.window}) == 1

    def one_batch_loss(self) -> Tensor:
        return self.feed.window_loss(self.module)


def _as_it_is(loss: Tensor) -> Tensor:
    return loss


def accumulate(
    micro: MicroBatches,
    forward: Callable[[], Tensor],
    params: list[Tensor],
    norms: bool,
    scale: Callable[[Tensor], Tensor] = _as_it_is,
    around: Callable[[int], AbstractContextManager[None]] | None = None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Backpropagate each micro-batch's loss divided by K into ``.grad`` (zeroed by the
    caller); ``scale``: what backward() runs on (--amp fp16: ``scaler.scale(loss / K)``).
    Returns the update's loss (the sum of the divided losses: the micro-batches' mean),
    each micro-batch's own loss, and with ``norms`` the norm, over all parameters, of what
    each micro-batch's backward added to ``.grad`` (its loss/K's gradient, as rounded into
    the sum; scaled, with ``scale``). ``around(index)``: a context for micro-batch
    ``index``'s forward and backward (``gradcli ddp``: DDP's ``no_sync()`` for all but the
    last)."""
    k = micro.k
    losses: list[Tensor] = []
    added: list[Tensor] = []
    total: Tensor | None = None
    try:
        for index in range(k):
            micro.select(index)
            before = [_copy(p.grad) for p in params] if norms else []
            context = around(index) if around is not None else nullcontext()
            with context, user_code("forward() or backward()"):
                loss = forward()
                scale(loss / k).backward()
            share = loss.detach() / k
            total = share if total is None else total + share
            losses.append(loss.detach())
            if norms:
                added.append(_norm_of_added(params, before))
    finally:
        micro.done()
    assert total is not None
    return total, torch.stack(losses), torch.stack(added) if norms else None


def _copy(grad: Tensor | None) -> Tensor | None:
    return None if grad is None else dense(grad).clone()


def _norm_of_added(params: list[Tensor], before: list[Tensor | None]) -> Tensor:
    parts = []
    for p, was in zip(params, before, strict=True):
        if p.grad is None:
            continue
        now = dense(p.grad)
        parts.append(torch.linalg.vector_norm(now if was is None else now - was).double())
    return torch.linalg.vector_norm(torch.stack(parts)) if parts else torch.zeros(())


def gap_in_ulps(
    micro: MicroBatches,
    params: list[Tensor],
    autocast: Callable[[], AbstractContextManager[None]] | None = None,
    scale: Callable[[Tensor], Tensor] = _as_it_is,
) -> int | None:
    """The largest gap, in ULPs of the gradients' dtype, between the accumulated gradient
    (``.grad`` now) and the gradient of one batch of K·B at the same parameters; None where
    the micro-batches differ in size, or a gradient is not finite (--amp fp16: an overflow,
    which skips the step). With ``scale`` (loss·S), both gradients are the scaled ones. The
    one batch leaves no trace: random numbers (dropout) and buffers (batch norm's running
    statistics) are restored after it."""
    if not micro.equal():
        return None
    module = micro.module
    buffers = {name: b.clone() for name, b in module.named_buffers()}
    devices = [p.device for p in params if p.device.type == "cuda"][:1]
    with torch.random.fork_rng(devices=devices), user_code("forward() or backward()"):
        with autocast() if autocast is not None else nullcontext():  # (--amp: as each micro-batch)
            loss = micro.one_batch_loss()
        grads = torch.autograd.grad(scale(loss), params, allow_unused=True)
    with torch.no_grad():
        for name, b in module.named_buffers():
            if name in buffers and b.shape == buffers[name].shape:
                b.copy_(buffers[name])
    micro.done()
    worst = 0
    for p, one in zip(params, grads, strict=True):
        if p.grad is None or one is None:
            continue
        accumulated, whole = dense(p.grad), dense(one)
        if not bool(accumulated.isfinite().all() and whole.isfinite().all()):
            return None
        worst = max(worst, ulps_apart(accumulated, whole))
    return worst


def ulps_apart(a: Tensor, b: Tensor) -> int:
    """The largest gap between elements of ``a`` and ``b``, in ULPs of their largest
    element's magnitude (the spacing of ``a``'s dtype there), rounded up; NaNs left out.

    Counted at the largest element, not element by element: an element near zero (a
    gradient whose terms cancel) has a tiny ULP, and a gap of one rounding of the sum it
    came from is then many of its own ULPs, though no more than rounding."""
    both = ~(a.isnan() | b.isnan())
    if not bool(both.any()):
        return 0
    a, b = a[both], b[both]
    scale = torch.maximum(a.abs().max(), b.abs().max())
    ulp = (torch.nextafter(scale, scale.new_tensor(math.inf)) - scale).double()
    gap = (a.double() - b.double()).abs().max()
    return math.ceil(float(gap / ulp)) if float(gap) else 0
