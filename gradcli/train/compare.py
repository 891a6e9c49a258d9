"""``gradcli compare``: several optimizers, each run by hand and with torch.optim, in lockstep.

Every method starts from the same initial parameters (same problem, same seed). After each
step the hand-written parameters are compared with torch.optim's: the largest absolute
difference, and the same gap in ULPs (how many representable floats lie between them).

With ``--data`` each run has its own feed of batches, every one seeded with ``--data-seed``,
so every method and both paths draw the same batches; after the last step of each epoch,
once every method has done it, each run's held-out data is evaluated (``end_of_epoch``) and
one record per method says how the torch.optim path stands.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

import torch
from torch import Tensor

from gradcli.errors import GradcliError
from gradcli.problems.plane import distance_metrics
from gradcli.records import (
    DISTANCE,
    CompareEpochRecord,
    CompareRecord,
    Evaluated,
    MethodSummary,
)
from gradcli.saved_runs import Run
from gradcli.spec import RunSpec, labels
from gradcli.train.loop import Training
from gradcli.train.loss_scaling import Unscaled
from gradcli.train.setup import prepare
from gradcli.usercode import user_code


def _ordered(t: Tensor) -> Tensor:
    """Floats as integers in the same order, so that subtracting counts ULPs."""
    if t.dtype == torch.float32:
        raw = t.detach().contiguous().view(torch.int32).to(torch.int64)
        magnitude = raw & 0x7FFFFFFF
    else:
        raw = t.detach().contiguous().view(torch.int64)
        magnitude = raw & 0x7FFFFFFFFFFFFFFF
    return torch.where(raw < 0, -magnitude, magnitude)


def _scaling(unscaled: Unscaled) -> Tensor:
    """[S, found_inf] of a step's loss scaling, as float64 (for the step's one host copy)."""
    return torch.stack([unscaled.scale.double(), unscaled.found_inf.double()])


def _flat(params: Iterable[Tensor]) -> Tensor:
    return torch.cat([p.detach().reshape(-1).double() for p in params])


def gaps(manual: list[Tensor], optim: list[Tensor]) -> Tensor:
    """[max |a − b|, max ULPs between a and b, 1 if any bit differs] over all parameters."""
    diff = torch.stack(
        [(a.detach() - b.detach()).abs().max().double() for a, b in zip(manual, optim, strict=True)]
    ).max()
    ulps, differs = [], []
    for a, b in zip(manual, optim, strict=True):
        apart = _ordered(a) - _ordered(b)  # once per pair: ULPs, and whether any bit differs
        ulps.append(apart.abs().max())
        differs.append((apart != 0).any() | (a.signbit() != b.signbit()).any())
    return torch.stack(
        [diff, torch.stack(ulps).max().double(), torch.stack(differs).any().double()]
    )


class Comparison:
    """All methods stepped together; iterate for one record per step and method (with
    ``--data``, and one per epoch and method after the epoch's last step)."""

    def __init__(
        self,
        specs: list[RunSpec],
        tol: float | None = None,
        target_accuracy: float | None = None,
    ) -> None:
        self.should_stop: Callable[[], bool] = lambda: False
        self.stopped_at: int | None = None  # set when Ctrl-C or divergence ended the run
        self.diverged: str | None = None  # what went non-finite, when that ended it
        self.pairs: list[tuple[Training, Training]] = []
        self.summaries: list[MethodSummary] = []
        self.steps = specs[0].steps
        # set for --plot: each run's torch.optim parameters after every step, flat
        self.track = False
        self.points: list[list[list[float]]] = [[] for _ in specs]
        lrs = []
        infos = []
        for spec in specs:
            # the hand-written rule for torch's implementation: foreach with foreach,
            # the for-loop with forloop; fused has none, so the default stands in for it
            impl = None if spec.impl == "fused" else spec.impl
            manual, info = prepare(replace(spec, impl=impl), "manual")
            optim, _ = prepare(spec, "optim")
            self.pairs.append((manual, optim))
            lrs.append(info.lr)
            infos.append(info)
        # what every run shares, for the header (the optimizer is each run's own)
        self.info = replace(infos[0], command="compare")
        # labelled by the lr each run uses (the problem's default where none was given)
        resolved = [replace(spec, lr=lr) for spec, lr in zip(specs, lrs, strict=True)]
        for spec, label, lr in zip(specs, labels(resolved), lrs, strict=True):
            summary = MethodSummary(spec.optimizer, label, lr, tol=tol)
            summary.target_accuracy = target_accuracy
            self.summaries.append(summary)
        feed = self.pairs[0][1].feed
        self.data = feed is not None
        if target_accuracy is not None and feed is not None:
            if not feed.classification:
                raise GradcliError(
                    f"--target-accuracy: {feed.data.name} is a regression task, with no "
                    "accuracy; use --tol for the epochs until the held-out loss is at most it"
                )
            if feed.data.x_val is None:
                raise GradcliError(
                    "--target-accuracy: no data is held out (--val-fraction 0) to measure the "
                    "accuracy on; give --val-fraction F > 0"
                )

    def __iter__(self) -> Iterator[CompareRecord | CompareEpochRecord]:
        for (manual, optim), points, summary in zip(
            self.pairs, self.points, self.summaries, strict=True
        ):
            if self.track:
                points.append(_flat(optim.problem.parameters()).tolist())
            if optim.feed is not None:  # the training data's loss where the runs start
                manual.problem.train()
                optim.problem.train()
                first = optim.feed.evaluate(optim.problem, "train")
                summary.first_loss = None if first is None else first.loss
        for summary in self.summaries:
            yield CompareRecord(  # (no update yet: no lr, as optim's step 0 has none)
                0, summary.optimizer, summary.label, None, None, None, 0.0, 0, True
            )
        for step in range(1, self.steps + 1):
            runs = zip(self.pairs, self.summaries, self.points, strict=True)
            for (manual, optim), summary, points in runs:
                lr = manual.update.lr  # this step's (a schedule moves it after the update)
                losses = [manual.advance().detach().double(), optim.advance().detach().double()]
                m_params = list(manual.problem.parameters())
                o_params = list(optim.problem.parameters())
                tracked = [_flat(o_params)] if self.track else []
                unscaled = optim.unscaled  # --amp fp16: the optim path's scale and found_inf
                scaling = [] if unscaled is None else [_scaling(unscaled)]
                numbers = torch.cat(
                    [torch.stack(losses), gaps(m_params, o_params), *scaling, *tracked]
                )
                manual_loss, optim_loss, diff, ulps, differs, *rest = numbers.tolist()  # one copy
                scale, skipped = (rest.pop(0), bool(rest.pop(0))) if scaling else (None, None)
                if skipped is not None:
                    summary.skipped = (summary.skipped or 0) + skipped
                if self.track:
                    points.append(rest)
                summary.losses.append(optim_loss)
                summary.max_abs_diff = max(summary.max_abs_diff, diff)
                summary.max_ulps = max(summary.max_ulps, int(ulps))
                summary.bit_identical = summary.bit_identical and not differs
                feed = optim.feed
                yield CompareRecord(
                    step,
                    summary.optimizer,
                    summary.label,
                    lr,
                    manual_loss,
                    optim_loss,
                    diff,
                    int(ulps),
                    not differs,
                    None if feed is None else feed.epoch,
                    None if feed is None else feed.batch,
                    scale,
                    skipped,
                )
                finite = math.isfinite(manual_loss) and math.isfinite(optim_loss)
                if not finite and self.diverged is None:
                    self.diverged = (
                        f"{summary.label}: step {step}: the loss is "
                        f"{manual_loss:.6g} by hand and {optim_loss:.6g} with torch.optim"
                    )
            # after every run has done this step: the end of an epoch, as optim and manual
            # have it after its last step; then stop where optim and manual stop after one
            if self.diverged is None:
                yield from self._end_of_epoch(step)
            if self.diverged is not None or self.should_stop():
                self.stopped_at = step
                return
        for (_, optim), summary in zip(self.pairs, self.summaries, strict=True):
            if optim.feed is not None:
                summary.final = self._evaluate(optim)
                summary.losses.append(summary.final.train_loss)
                continue
            with torch.no_grad(), user_code("forward()"):
                summary.losses.append(optim.problem().item())
            summary.distance = distance_metrics(optim.problem).get(DISTANCE)

    def _end_of_epoch(self, step: int) -> Iterator[CompareEpochRecord]:
        """With --data, after an epoch's last step: each run's end of the epoch (both paths:
        a schedule stepped once an epoch steps on both), a record of torch.optim's."""
        for (manual, optim), summary in zip(self.pairs, self.summaries, strict=True):
            if optim.feed is None or not optim.feed.epoch_ended:
                continue
            manual.end_of_epoch(step)
            record = optim.end_of_epoch(step)
            summary.epochs.append(record)
            yield CompareEpochRecord(summary.optimizer, summary.label, record)

    @staticmethod
    def _evaluate(training: Training) -> Evaluated:
        """The training data's and the held-out data's loss and accuracy at the end."""
        assert training.feed is not None
        train = training.feed.evaluate(training.problem, "train")
        val = training.feed.evaluate(training.problem, "val")
        assert train is not None
        return Evaluated(
            train.loss,
            train.accuracy,
            None if val is None else val.loss,
            None if val is None else val.accuracy,
        )

    def runs(self) -> list[Run]:
        """Each method's torch.optim path as records for the pictures: the loss before each
        step's update and the parameters after it (``track`` must have been set)."""
        names = [
            (name, list(p.shape), p.numel())
            for name, p in self.pairs[0][1].problem.named_parameters()
        ]
        runs = []
        for summary, points in zip(self.summaries, self.points, strict=True):
            records = []
            for step in range(len(summary.losses)):
                params, at = {}, 0
                for name, shape, count in names if step < len(points) else ():
                    params[name] = {"shape": shape, "value": points[step][at : at + count]}
                    at += count
                loss = summary.losses[step - 1] if step else None
                records.append({"step": step, "loss": loss, "params": params})
            final = summary.final_loss if summary.final is None else None  # (θ_T's loss)
            run = Run(summary.label, records, summary.lr, final_loss=final)
            run.max_ulps = summary.max_ulps
            runs.append(run)
        return runs
