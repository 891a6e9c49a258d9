"""The training loop, shared by both paths: forward, backward, update, record.

The two paths differ only in the update (``gradcli.train.updates``):

- ``optim``: ``optimizer.zero_grad(); loss = model(); loss.backward(); optimizer.step()``
- ``manual``: autograd computes the gradients, a rule updates each parameter in place under
  ``torch.no_grad()``, and the gradients are dropped after.

An optimizer that evaluates the loss itself (LBFGS) gets ``step(closure)`` on both paths; its
first evaluation is the step's forward and backward above, so a record shows the loss and
gradient before the step, as for any other optimizer, and how many evaluations it made.

What a caller adds (Ctrl-C, progress; ``gradcli ddp``'s averaging across processes, its
shard's own gradient, its gathered records) plugs into the hooks of ``Training``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from gradcli.data.feed import Evaluation, Feed
from gradcli.errors import Diverged, GradcliError
from gradcli.measure import HostCopy, Recorder, dense, measure, values_of
from gradcli.optimizers.formula import Element
from gradcli.private_api import foreach_norm
from gradcli.problems.plane import distance_metrics
from gradcli.records import EpochRecord, Reference, Stats, StepRecord, Summary
from gradcli.train.accumulation import MicroBatches, accumulate, gap_in_ulps
from gradcli.train.clipping import Clipped
from gradcli.train.clipping import explain as explain_clip
from gradcli.train.loss_scaling import Unscaled
from gradcli.train.loss_scaling import explain as explain_scaling
from gradcli.train.precision import under
from gradcli.train.updates import ManualUpdate, OptimUpdate
from gradcli.usercode import user_code


def _finite(record: StepRecord) -> bool:
    """The loss and every gradient in ``record`` are finite (a norm is finite exactly when
    all the elements are, short of overflow, which counts as diverging too)."""
    numbers = [record.loss or 0.0]
    for p in record.params:
        if isinstance(p.grad, Stats):
            numbers.append(p.grad.norm)
        elif p.grad is not None:
            numbers.extend(p.grad)
    return all(math.isfinite(x) for x in numbers)


def _element(value: object, at: int) -> Tensor | None:
    """Element ``at`` of a state value, as a tensor of its own: a tensor's (a sparse one made
    dense; a scalar's only element), a number as it is; None for anything else."""
    if isinstance(value, Tensor):
        flat = dense(value).reshape(-1)
        if flat.numel() == 0:
            return None
        return flat[at if flat.numel() > at else 0].clone()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    return None


class _GradientCopies:
    """A copy of each gradient, in buffers made once (a shown step allocates nothing)."""

    def __init__(self, count: int) -> None:
        self.buffers: list[Tensor | None] = [None] * count

    def copy(self, index: int, grad: Tensor | None) -> Tensor | None:
        if grad is None or grad.layout != torch.strided:
            return None if grad is None else grad.clone()
        buffer = self.buffers[index]
        if buffer is None or buffer.shape != grad.shape or buffer.dtype != grad.dtype:
            buffer = self.buffers[index] = torch.empty_like(grad)
        return buffer.copy_(grad)


@dataclass
class Training:
    """One run of ``steps`` updates; iterate it for the records of the shown steps."""

    problem: nn.Module
    update: ManualUpdate | OptimUpdate
    steps: int
    shows: Callable[[int], bool]
    start: int = 0  # steps done before this run (a resumed checkpoint)
    record_state: bool = False
    explainer: Callable[[Element], str] | None = None
    # the lr's line, with a schedule: (scheduler steps so far, lr, momentum or betas it set)
    explain_lr: Callable[[int, float, dict[str, Any]], str] | None = None
    # Hooks, where a caller plugs in (``run_training`` sets the first two, ``gradcli ddp`` the
    # rest). Each is called only when set: one left unset costs one attribute check a step.
    should_stop: Callable[[], bool] | None = None  # asked each step: stop after it (Ctrl-C)
    on_step: Callable[[int], None] | None = None  # told each step once it is done
    forward: Callable[[], Tensor] | None = None  # computes the loss in the problem's place
    # (e.g. DistributedDataParallel's wrapper of it, which averages gradients in backward())
    after_backward: Callable[[], None] | None = None  # before clipping: e.g. average the
    # gradients across processes by hand
    before_update: Callable[[int, bool], None] | None = None  # (step, shown), before the update
    finite_everywhere: Callable[[bool], bool] | None = None  # this process's verdict (loss and
    # gradients finite) -> the run's (e.g. of every process), so that all stop together
    schedule_loss: Callable[[float], float] | None = None  # this process's loss -> the one a
    # scheduler that needs a loss (ReduceLROnPlateau) is fed (e.g. the mean over processes)
    complete_record: Callable[[StepRecord], StepRecord] | None = None  # each record, before it
    # is yielded (e.g. with every process's loss and gradient gathered into it)
    first_loss: float | None = None
    stopped_at: int | None = None  # set when the run ended early
    diverged: str | None = None  # what went non-finite, when that ended it
    clipped: Clipped | None = None  # the last evaluation's clipping (--clip-norm/--clip-value)
    fired: Tensor | None = None  # on how many steps clipping changed a gradient (on the device)
    fed: list[float] = field(default_factory=list)  # the losses a ReduceLROnPlateau was fed
    # with --data: the batches (each step takes the next one; ``forward`` is its loss), the
    # scheduler stepped once an epoch instead of once a step, and the training data's loss
    # at the parameters this run starts from
    feed: Feed | None = None
    schedule_per_epoch: bool = False
    initial: Evaluation | None = None
    # --accumulate K: the K micro-batches of each update; on shown steps, what each added
    # and how far the accumulated gradient is from one batch's (``gradcli.train.accumulation``)
    micro_batches: MicroBatches | None = None
    measure_micro: bool = False  # the next forward_backward() is a shown step's
    micro: tuple[Tensor, Tensor | None, int | None] | None = None  # losses, norms, ULPs
    ulps: list[int | None] = field(default_factory=list)  # each shown step's gap
    autocast: Callable[[], AbstractContextManager[None]] | None = None  # --amp: the forward's
    # --amp fp16: the last evaluation's loss scaling, and on how many steps the update was
    # skipped for an inf or a NaN in the gradients (on the device)
    unscaled: Unscaled | None = None
    skipped: Tensor | None = None
    # around each micro-batch's forward and backward, by its index (``gradcli ddp --path ddp``:
    # DDP's no_sync() for all but the last, so that the gradients are all-reduced once)
    micro_context: Callable[[int], AbstractContextManager[None]] | None = None

    def __iter__(self) -> Iterator[StepRecord | EpochRecord]:
        names = [name for name, _ in self.problem.named_parameters()]
        params = [param for _, param in self.problem.named_parameters()]
        recorder = Recorder(names, params)
        kept = _GradientCopies(len(params))
        complete = self.complete_record
        feed = self.feed
        if feed is not None:
            self.problem.train()
            self.initial = feed.evaluate(self.problem, "train")
        if self.start == 0:
            first = measure(0, names, params)
            yield first if complete is None else complete(first)
        for step in range(self.start + 1, self.start + self.steps + 1):
            # 1. forward, backward and clipping at the current parameters (with --data: on
            #    the next batch); the lr the update will use (a schedule moves it after)
            if feed is not None:
                feed.next()
            self.measure_micro = self.shows(step)
            loss = self.forward_backward()
            clipped, lr, unscaled = self.clipped, self.update.lr, self.unscaled
            self._count(clipped)
            grads = [p.grad for p in params]
            # 2. decide whether the step is shown: by --every, by Ctrl-C, or because the loss
            #    or a gradient went non-finite (checked here only for steps not shown anyway;
            #    a shown step's record carries the same facts)
            stop = self.should_stop is not None and self.should_stop()
            shown = self.shows(step) or stop
            if not shown:
                loss_value, finite = self._check(loss, grads, clipped)  # the step's one sync
                if self.unscaled is not None:  # an inf in a gradient skips the step, no more
                    finite = math.isfinite(loss_value)
                if self.finite_everywhere is not None:
                    finite = self.finite_everywhere(finite)
                shown = not finite
            if self.before_update is not None:
                self.before_update(step, shown)
            # 3. keep what the record needs: the parameters before the update, and the
            #    gradients as they were (torch's foreach SGD with Nesterov momentum writes
            #    g + μ·b into p.grad; zero_grad() drops the tensors, it does not zero them)
            before = recorder.snapshot() if shown else None
            if shown:
                grads = [kept.copy(i, g) for i, g in enumerate(grads)]
            prior = self._first_elements_of_state(params) if shown and self.explainer else None
            scheduled = self.update.scheduled() if prior is not None else {}  # (as step() reads)
            # 4. update
            evaluations = self._update(loss, step)
            # 5. record (the step's one sync)
            if before is not None:
                states = (
                    [self.update.state.get(p, {}) for p in params] if self.record_state else None
                )
                record = recorder.measure(
                    step, loss, grads, before, states, lr=lr, evaluations=evaluations
                )
                if feed is not None:
                    record = replace(record, epoch=feed.epoch, batch=feed.batch)
                if self.micro is not None and self.measure_micro:
                    record = self._with_micro(record, self.micro)
                extra: list[str] = []  # --explain: the lr and the clipping, before the rule
                after: list[str] = []  # and the scaler's update() after it
                if unscaled is not None:  # --amp fp16
                    record, extra, after = self._with_scaling(record, unscaled, prior is not None)
                if clipped is not None:
                    coefficient = clipped.coefficient
                    grad_norm, fired, c = torch.stack(
                        [
                            clipped.grad_norm.double(),
                            clipped.fired.double(),
                            (coefficient if coefficient is not None else clipped.fired).double(),
                        ]
                    ).tolist()
                    record = replace(record, grad_norm=grad_norm, clipped=bool(fired))
                    if self.update.clipping is not None:
                        c_value = c if coefficient is not None else None
                        extra.append(
                            explain_clip(self.update.clipping, grad_norm, bool(fired), c_value)
                        )
                loss_value, finite = record.loss or 0.0, _finite(record)
                if unscaled is not None:  # an inf in a gradient skips the step, no more
                    finite = math.isfinite(loss_value)
                if self.finite_everywhere is not None:
                    finite = self.finite_everywhere(finite)
                if prior is not None:
                    if self.explain_lr is not None:
                        extra.insert(0, self.explain_lr(self._stepped(step), lr, scheduled))
                    if record.skipped:  # the rule did not run: say so, not what it would do
                        # (nor ask its formula: a first step skipped left no state to show)
                        lines = tuple(
                            f"{name}[0]: scaler.step() skipped the update; "
                            "θ and the optimizer state stay as they were"
                            for name, grad in zip(names, grads, strict=True)
                            if grad is not None
                        )
                    else:
                        params_before = recorder.unpack(before)
                        lines = self._explain(
                            step, lr, names, params, grads, params_before, prior, scheduled
                        )
                    record = replace(record, explain=(*extra, *lines, *after))
                yield record if complete is None else complete(record)
            # 6. the schedule: scheduler.step() after optimizer.step() (or after the epoch)
            if not self.schedule_per_epoch:
                self._schedule_step(loss_value)
            if step == self.start + 1:
                self.first_loss = loss_value
            if self.on_step is not None:
                self.on_step(step)
            # 7. with --data, at the end of an epoch: the held-out data evaluated
            if feed is not None and feed.epoch_ended and finite:
                yield self.end_of_epoch(step)
            stop = stop or not finite
            if stop:
                self.stopped_at = step
                if not finite:
                    self.diverged = self._what_diverged(step, loss_value, names, grads)
                return

    def end_of_epoch(self, step: int) -> EpochRecord:
        """The epoch just ended: its training loss and accuracy as the batches saw them, the
        held-out data's at the parameters now; the scheduler stepped when it steps once an
        epoch (ReduceLROnPlateau fed the held-out loss, or the training loss without one)."""
        assert self.feed is not None
        trained = self.feed.epoch_training()
        held_out = self.feed.evaluate(self.problem, "val")
        if self.schedule_per_epoch:
            self._schedule_step(trained.loss if held_out is None else held_out.loss)
        return EpochRecord(
            self.feed.epoch,
            step,
            trained.loss,
            trained.accuracy,
            None if held_out is None else held_out.loss,
            None if held_out is None else held_out.accuracy,
            self.update.lr,
        )

    def _with_micro(
        self, record: StepRecord, micro: tuple[Tensor, Tensor | None, int | None]
    ) -> StepRecord:
        losses, norms, ulps = micro
        self.ulps.append(ulps)
        return replace(
            record,
            micro_losses=tuple(losses.tolist()),
            micro_grad_norms=None if norms is None else tuple(norms.tolist()),
            one_batch_ulps=ulps,
        )

    def _with_scaling(
        self, record: StepRecord, unscaled: Unscaled, explain: bool
    ) -> tuple[StepRecord, list[str], list[str]]:
        """--amp fp16: ``record`` with the step's scale and whether it was skipped (with
        --state, the scaler's state after ``update()``), and with ``explain`` the lines of
        the scale and the unscale (before clipping's) and of ``update()`` (after the rule's)."""
        scale, found_inf, tracker = torch.stack(
            [t.double() for t in (unscaled.scale, unscaled.found_inf, unscaled.growth_tracker)]
        ).tolist()
        record = replace(record, scale=scale, skipped=bool(found_inf))
        state = self.update.scaler_state()
        if self.record_state:
            record = replace(record, scaler={k: state[k] for k in ("scale", "_growth_tracker")})
        if not explain:
            return record, [], []
        *before_clip, update = explain_scaling(
            (scale, found_inf, int(tracker)), record.loss or 0.0, state
        )
        return record, before_clip, [update]

    def _count(self, clipped: Clipped | None) -> None:
        if clipped is not None:
            fired = clipped.fired.to(torch.int64)
            self.fired = fired if self.fired is None else self.fired + fired
        if self.unscaled is not None:
            skipped = (self.unscaled.found_inf > 0).to(torch.int64)
            self.skipped = skipped if self.skipped is None else self.skipped + skipped

    def _stepped(self, step: int) -> int:
        """How many times the scheduler has stepped before training step ``step``'s update:
        once after each earlier update, or with --schedule-per epoch once after each earlier
        epoch."""
        if self.schedule_per_epoch and self.feed is not None:
            return self.feed.epoch - 1
        return step - 1

    def _schedule_step(self, loss: float) -> None:
        if self.update.needs_loss:
            if self.schedule_loss is not None:
                loss = self.schedule_loss(loss)
            self.fed.append(loss)
            self.update.schedule_step(loss)
        else:
            self.update.schedule_step(None)

    @staticmethod
    def _check(
        loss: Tensor, grads: list[Tensor | None], clipped: Clipped | None = None
    ) -> tuple[float, bool]:
        """The loss, and whether it and every gradient (and the norm clipping saw) are
        finite, in one host copy of the loss and the norms, checked on the host. A gradient's
        norm is finite exactly when all its elements are (or it overflows, which counts as
        diverging too); one norm per gradient is far cheaper than isfinite, and the check on
        the host cheaper than more kernels (two in all: 40 µs a step less than four more)."""
        # (a sparse gradient's values, duplicates summed, are finite when its dense form is)
        present = [g.coalesce().values() if g.is_sparse else g for g in grads if g is not None]
        norms = foreach_norm(present) if present else []
        if clipped is not None:
            norms.append(clipped.grad_norm)
        # (stack promotes to the widest dtype; a float32 number is exact as a Python float)
        loss_value, *rest = torch.stack([loss.detach(), *norms]).tolist()
        all_finite = math.isfinite(loss_value) and all(map(math.isfinite, rest))
        if not all_finite and math.isfinite(loss_value):  # a float32 norm overflows for
            # elements near 1e20, all finite: then look at the elements themselves (rare)
            all_finite = all(bool(g.isfinite().all()) for g in present)
        return loss_value, bool(all_finite)

    @staticmethod
    def _what_diverged(step: int, loss: float, names: list[str], grads: list[Tensor | None]) -> str:
        bad = [
            name
            for name, g in zip(names, grads, strict=True)
            if g is not None and not bool(dense(g).isfinite().all())
        ]
        what = f"the loss is {loss}" if not math.isfinite(loss) else f"the loss is {loss:.6g}"
        if bad:
            what += f" and the gradient of {', '.join(bad)} is not finite"
        return f"step {step}: {what}"

    def forward_backward(self) -> Tensor:
        """Zero the gradients (the optim path's way), compute the loss, backpropagate,
        clip (``self.clipped``: what clipping saw)."""
        self.update.zero_grad()
        forward = self.forward or self.problem
        if self.autocast is not None:
            forward = under(self.autocast, forward)
        scale = self.update.scale_loss  # (--amp fp16: loss·S; else the loss as it is)
        if self.micro_batches is None:
            with user_code("forward() or backward()"):
                loss = forward()
                scale(loss).backward()
        else:  # --accumulate K: K micro-batches, each loss / K, then one clip and update
            params = list(self.problem.parameters())
            shown = self.measure_micro
            loss, losses, norms = accumulate(
                self.micro_batches, forward, params, shown, scale, self.micro_context
            )
            ulps = gap_in_ulps(self.micro_batches, params, self.autocast, scale) if shown else None
            self.micro = (losses, norms, ulps)
        if self.after_backward is not None:
            self.after_backward()
        self.unscaled = self.update.unscale()  # --amp fp16: before clipping, as torch says
        if self.unscaled is not None and self.micro is not None and self.micro[1] is not None:
            losses, norms, ulps = self.micro  # what each micro-batch added, unscaled
            self.micro = (losses, norms / self.unscaled.scale.double(), ulps)
        self.clipped = self.update.clip()
        return loss

    def advance(self) -> Tensor:
        """One step with no record (``compare`` steps its runs in lockstep this way):
        forward, backward, clip, update, schedule; returns the loss before the update, on
        the device."""
        if self.feed is not None:
            self.feed.next()
        loss = self.forward_backward()
        self._count(self.clipped)
        self._update(loss, None)
        if not self.schedule_per_epoch:  # else end_of_epoch() steps it
            self._schedule_step(float(loss.detach()) if self.update.needs_loss else math.nan)
        return loss

    def _update(self, loss: Tensor, step: int | None) -> int | None:
        """The update. One that evaluates the loss itself (LBFGS) gets a closure whose first
        call returns ``loss``, the evaluation already done (its gradients are in place), and
        whose later calls evaluate again; returns how many calls it made (None for others)."""
        try:  # (free in Python 3.11 until something raises)
            if not self.update.closure:
                self.update.step()
                return None
            calls = 0

            def closure() -> Tensor:
                nonlocal calls
                calls += 1
                return loss if calls == 1 else self.forward_backward()

            self.update.step(closure)
            return calls
        except RuntimeError as error:
            if "overflow" not in str(error):
                raise
            raise self._overflowed(error, step) from None

    def _overflowed(self, error: RuntimeError, step: int | None) -> GradcliError:
        """torch refuses a number the update computes from the hyperparameters (lr = 1e39:
        Adam's lr/(1 − β1ᵗ), SGD's −lr) that the parameters' dtype cannot hold: from the
        settings, exit 2; from a schedule that grew the lr during the run, divergence."""
        dtype = next(self.problem.parameters()).dtype
        name = str(dtype).removeprefix("torch.")
        scheduled = bool(getattr(self.update, "schedules", None)) or bool(
            getattr(self.update, "schedulers", None)
        )
        if scheduled:
            when = "" if step is None else f"step {step}: "
            return Diverged(
                f"{when}the schedule's lr {self.update.lr:g} makes the update overflow {name} "
                f"(largest {torch.finfo(dtype).max:.3g}; torch: {error})"
            )
        return GradcliError(
            f"the update overflows {name} (torch: {error}): a number it makes from the "
            f"hyperparameters (lr {self.update.lr:g}) is beyond {name}'s largest, "
            f"{torch.finfo(dtype).max:.3g}; choose a smaller --lr or hyperparameter, or "
            "--dtype float64"
        )

    def _first_elements_of_state(self, params: list[Tensor]) -> list[dict[str, Tensor]]:
        """Each parameter's first element of each state value (a number as it is; lists,
        LBFGS's history, left out). State kept on the first parameter for all of them
        (LBFGS: flat vectors over every parameter) is read at each parameter's offset."""
        if not self.update.closure:
            return [
                {
                    key: first
                    for key, value in self.update.state.get(p, {}).items()
                    if key != "step" and (first := _element(value, 0)) is not None
                }
                for p in params
            ]
        shared = self.update.state.get(params[0], {}) if params else {}
        offsets = [0]
        for p in params[:-1]:
            offsets.append(offsets[-1] + p.numel())
        return [
            {
                key: first
                for key, value in shared.items()
                if (first := _element(value, offset)) is not None
            }
            for offset in offsets
        ]

    def _explain(
        self,
        step: int,
        lr: float,
        names: list[str],
        params: list[Tensor],
        grads: list[Tensor | None],
        before: list[Tensor],
        prior: list[dict[str, Tensor]],
        scheduled: dict[str, Any],
    ) -> tuple[str, ...]:
        """Lines for --explain, from one host copy of the first elements involved; the
        formula reads the momentum or betas a schedule set for this update (``scheduled``)."""
        assert self.explainer is not None
        after = self._first_elements_of_state(params)
        copy = HostCopy()
        for i, param in enumerate(params):
            grad = grads[i]
            shown = dense(grad) if grad is not None else torch.zeros_like(param)
            for t in (before[i], param, shown):
                copy.add(t.reshape(-1)[0])
            for value in [*prior[i].values(), *after[i].values()]:
                copy.add(value)
        reader = copy.fetch()
        lines = []
        for i, name in enumerate(names):
            theta, theta_new, grad = reader.take(3)
            was = dict(zip(prior[i], reader.take(len(prior[i])), strict=True))
            now = dict(zip(after[i], reader.take(len(after[i])), strict=True))
            if grads[i] is not None:
                lines.append(
                    self.explainer(
                        Element(name, step, lr, theta, grad, theta_new, was, now, scheduled)
                    )
                )
        return tuple(lines)

    def summary(self) -> Summary:
        """Call after iterating: loss at the start and at the final parameters."""
        if self.feed is not None:
            return self._data_summary(self.feed)
        with torch.no_grad(), user_code("forward()"):
            final_loss = self.problem().item()
        params = dict(self.problem.named_parameters())
        reference = getattr(self.problem, "reference", dict)()
        metrics = {**getattr(self.problem, "metrics", dict)(), **distance_metrics(self.problem)}
        return Summary(
            steps=self.start + self.steps,
            clip_fired=None if self.fired is None else int(self.fired.item()),
            clip_steps=self.steps,
            first_loss=final_loss if self.first_loss is None else self.first_loss,
            final_loss=final_loss,
            reference={
                name: Reference(
                    values_of(params[name]),
                    values_of(ref),
                    (params[name].detach().double().cpu() - ref).abs().max().item(),
                )
                for name, ref in reference.items()
            },
            reference_label=getattr(self.problem, "reference_label", "optimum"),
            metrics=metrics,
            resumed_from=self.start,
            **self._accumulation(),
        )

    def _accumulation(self) -> dict[str, Any]:
        """The summary's accumulation and loss scaling (nothing without either)."""
        more: dict[str, Any] = {}
        if self.micro_batches is not None:
            more = {"accumulate": self.micro_batches.k, "one_batch_ulps": tuple(self.ulps)}
        if self.update.scaler is not None:
            more["skipped"] = 0 if self.skipped is None else int(self.skipped.item())
            more["final_scale"] = float(self.update.scaler_state()["scale"])
        return more

    def _data_summary(self, feed: Feed) -> Summary:
        """With --data: the training data's loss at the start and at the end, and the
        accuracy and held-out loss and accuracy at the end (``model.eval()``, no grad)."""
        final = feed.evaluate(self.problem, "train")
        held_out = feed.evaluate(self.problem, "val")
        assert final is not None
        metrics: dict[str, float] = {}
        if final.accuracy is not None:
            metrics["train accuracy"] = final.accuracy
        if held_out is not None:
            metrics["val loss"] = held_out.loss
            if held_out.accuracy is not None:
                metrics["val accuracy"] = held_out.accuracy
        first = final if self.initial is None else self.initial
        params = dict(self.problem.named_parameters())
        reference = {
            name: Reference(
                values_of(params[name]),
                values_of(optimum),
                (params[name].detach().double().cpu() - optimum).abs().max().item(),
            )
            for name, optimum in feed.least_squares(self.problem).items()
        }
        return Summary(
            steps=self.start + self.steps,
            clip_fired=None if self.fired is None else int(self.fired.item()),
            clip_steps=self.steps,
            first_loss=first.loss,
            final_loss=final.loss,
            metrics=metrics,
            reference=reference,
            reference_label="least squares",
            resumed_from=self.start,
            epochs=(self.start + self.steps) / feed.batches,
            **self._accumulation(),
        )
