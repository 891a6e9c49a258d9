"""Records: what a run produced, computed once and rendered many ways (torch-free).

A step record holds what one step did to every parameter; a tensor of at most ``SMALL``
elements is recorded element by element, a larger one as statistics (L2 norm, mean, min,
max). ``gradcli.measure`` computes them from tensors. The types every layer above shares
live here too: what a sink may show before the first record (``RunInfo``), the records and
summaries of ``gradcli compare`` (``CompareRecord``, ``MethodSummary``), and the names of
summary metrics (``DISTANCE``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SMALL = 8
DISTANCE = "distance to nearest minimum"  # a summary metric, where the problem knows its minima


@dataclass(frozen=True, slots=True)
class Stats:
    norm: float
    mean: float
    min: float
    max: float


Values = tuple[float, ...] | Stats


@dataclass(frozen=True, slots=True)
class ParamRecord:
    """One parameter at one step: ``value`` after the update, the ``grad`` that drove it,
    the applied ``update`` (value after − value before) and, when asked for, the optimizer
    ``state`` after the update under torch's key names. At step 0, grad and update are
    None."""

    name: str
    shape: tuple[int, ...]
    value: Values
    grad: Values | None
    update: Values | None
    state: dict[str, Values] | None = None


@dataclass(frozen=True, slots=True)
class RankRecord:
    """One worker of ``gradcli ddp`` at one step: the loss of its own shard of the data and
    its own gradient, before the gradients are averaged."""

    rank: int
    loss: float
    grads: dict[str, Values]


@dataclass(frozen=True, slots=True)
class StepRecord:
    """Step t ≥ 1: ``loss`` at the parameters before the update; step 0: initial parameters,
    ``loss`` None. ``explain``: the update of each parameter's first element, in numbers.
    ``gradcli ddp`` adds each rank's own loss and gradient (``ranks``; ``loss`` is then their
    mean and a parameter's ``grad`` the average) and how far the ranks' parameters differ.
    ``evaluations``: how many times an optimizer that evaluates the loss itself (LBFGS) did
    so in this step, the first (whose loss and gradient the record shows) included.
    ``lr``: the learning rate the step's update used (a schedule's, where one is given).
    With clipping, ``grad_norm`` is the total norm of the gradients before clipping and
    ``clipped`` whether clipping changed them; ``grad`` is then the clipped gradient, the one
    the update used."""

    step: int
    loss: float | None
    params: tuple[ParamRecord, ...]
    explain: tuple[str, ...] = ()
    ranks: tuple[RankRecord, ...] | None = None
    max_param_diff_across_ranks: float | None = None
    evaluations: int | None = None
    lr: float | None = None
    grad_norm: float | None = None
    clipped: bool | None = None
    epoch: int | None = None  # with --data: the epoch (from 1) and the batch of it (from 1)
    batch: int | None = None
    # --accumulate K: each micro-batch's own loss (``loss`` is their mean), the norm of what
    # each one's backward added to .grad, and the largest gap in ULPs between the
    # accumulated gradient and one batch of K·B's (None: micro-batches of unequal sizes)
    micro_losses: tuple[float, ...] | None = None
    micro_grad_norms: tuple[float, ...] | None = None
    one_batch_ulps: int | None = None
    # --amp fp16: the loss scale S the step's backward used, whether the update was skipped
    # (an inf or a NaN in the gradients: ``grad`` shows them unscaled, ``update`` is 0), and
    # with --state the scaler's state after update() (torch's keys: scale, _growth_tracker)
    scale: float | None = None
    skipped: bool | None = None
    scaler: dict[str, float] | None = None
    # gradcli ddp: how many times the step's gradients were all-reduced across the ranks
    # (once an update; with --accumulate K too: DDP's no_sync() or the hand-written path's
    # single all-reduce after the last micro-batch); None at step 0
    all_reduces: int | None = None


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """The end of an epoch of a run on ``--data``, after its last step (``step``): the
    training loss and accuracy as its batches saw them (the mean over the samples, each
    batch at the parameters before its update), and the held-out loss and accuracy at the
    parameters after the epoch (``model.eval()``, ``torch.no_grad()``). Accuracies are
    fractions, None for regression; the held-out ones None without held-out data."""

    epoch: int
    step: int
    train_loss: float
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    lr: float | None = None  # the lr after the epoch (a schedule may have moved it)


@dataclass(frozen=True, slots=True)
class Reference:
    """A parameter's final value beside a known optimum, and the largest gap between them."""

    learned: Values
    target: Values
    max_abs_diff: float


@dataclass(frozen=True, slots=True)
class Summary:
    """The run as a whole: loss at the initial and at the final parameters, and what the
    problem knows about its optimum, by parameter name."""

    steps: int
    first_loss: float
    final_loss: float
    reference: dict[str, Reference] = field(default_factory=dict)
    reference_label: str = "optimum"
    metrics: dict[str, float] = field(default_factory=dict)
    clip_fired: int | None = None  # with clipping: on how many of clip_steps it fired
    clip_steps: int | None = None
    resumed_from: int = 0  # the checkpoint's step, for a run that went on from one
    epochs: float | None = None  # with --data: the passes over the training data, all told
    accumulate: int = 1  # micro-batches per update (--accumulate)
    one_batch_ulps: tuple[int | None, ...] = ()  # each shown step's gap (StepRecord's)
    skipped: int | None = None  # --amp fp16: on how many of clip_steps the update was skipped
    final_scale: float | None = None  # and the loss scale at the end

    def span(self) -> str:
        """The steps this run made: ``100 steps``, or ``steps 51–100 (resumed from step 50)``."""
        if not self.resumed_from or self.steps == self.resumed_from:
            done = self.steps - self.resumed_from
            ago = f" (resumed from step {self.resumed_from})" if self.resumed_from else ""
            return f"{done} step" + "s" * (done != 1) + ago
        return f"steps {self.resumed_from + 1}–{self.steps} (resumed from step {self.resumed_from})"


@dataclass(frozen=True)
class RunInfo:
    """What a sink may show about the run before the first record."""

    command: str
    model: str
    optimizer: str
    lr: float
    hyperparameters: dict[str, float | bool]
    device: str
    dtype: str
    steps: int
    schedule: str | None = None  # torch's constructor of the schedule
    clipping: str | None = None  # torch's call that clips
    data: str | None = None  # with --data: the data set and its split, in words
    batches: str | None = None  # with --data: the batches and epochs, in words
    scaler: str | None = None  # --amp fp16: torch's call that makes the gradient scaler


@dataclass(frozen=True, slots=True)
class CompareRecord:
    """One method at one step. Losses are at the parameters before the step's update
    (None at step 0); the gaps are between the two paths' parameters after it."""

    step: int
    optimizer: str
    label: str  # tells runs of one optimizer apart: sgd(momentum=0.9)
    lr: float | None  # the lr this step's update used (None at step 0, as in optim's)
    manual_loss: float | None
    optim_loss: float | None
    max_abs_diff: float
    max_ulps: int
    bit_identical: bool
    epoch: int | None = None  # with --data: the epoch (from 1) and the batch of it (from 1)
    batch: int | None = None


@dataclass(frozen=True, slots=True)
class CompareEpochRecord:
    """One method at the end of an epoch of ``gradcli compare --data``: the torch.optim
    path's ``EpochRecord``."""

    optimizer: str
    label: str
    record: EpochRecord


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A model's loss and accuracy (a fraction; None for regression) on the training data
    and on the held-out data (None without any) at the end of a run on ``--data``."""

    train_loss: float
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None


@dataclass
class MethodSummary:
    """One method over the whole run; ``losses[t]`` is torch.optim's loss at θ_t (with
    ``--data``: the loss of step t + 1's batch, and at the end the training data's). With
    ``--data`` also the ends of its epochs, the training data's loss at the start
    (``first_loss``) and the evaluation at the end (``final``)."""

    optimizer: str
    label: str
    lr: float
    losses: list[float] = field(default_factory=list)
    max_abs_diff: float = 0.0
    max_ulps: int = 0
    bit_identical: bool = True
    tol: float | None = None
    distance: float | None = None  # from the nearest minimum at the end, where one is known
    epochs: list[EpochRecord] = field(default_factory=list)
    target_accuracy: float | None = None
    first_loss: float | None = None
    final: Evaluated | None = None

    @property
    def final_loss(self) -> float:
        return self.losses[-1]

    @property
    def epochs_to_target(self) -> int | None:
        """The first epoch whose held-out accuracy is at or above ``target_accuracy`` (None:
        never, or no target)."""
        if self.target_accuracy is None:
            return None
        target = self.target_accuracy
        return next(
            (e.epoch for e in self.epochs if (e.val_accuracy or 0.0) >= target),
            None,
        )

    @property
    def epochs_to_tol(self) -> int | None:
        """With ``--data``: the first epoch whose held-out loss (the training loss of its
        batches, without held-out data) is at or below ``tol`` (None: never, or no tol)."""
        if self.tol is None:
            return None
        return next(
            (
                e.epoch
                for e in self.epochs
                if (e.train_loss if e.val_loss is None else e.val_loss) <= self.tol
            ),
            None,
        )

    @property
    def best_loss(self) -> float:
        finite = [x for x in self.losses if not math.isnan(x)]
        return min(finite) if finite else math.nan

    @property
    def steps_to_tol(self) -> int | None:
        """Updates until the loss is first at or below ``tol`` (None: never, or no tol)."""
        if self.tol is None:
            return None
        return next((t for t, loss in enumerate(self.losses) if loss <= self.tol), None)
