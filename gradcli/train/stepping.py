"""``gradcli step``'s engine: runs trained one step at a time, on demand, on the one loop.

Each run is a ``Training`` from ``prepare`` (the same set-up as ``gradcli optim``/``manual``)
that shows every step and never ends by itself; a step is one ``next()`` of it, so its
records are the records ``gradcli optim ... --format jsonl`` writes for the same steps, bit
for bit. What a key changes between steps — the lr, ``--explain``, ``--state`` — is the
attribute the loop reads each step. Switching the path (optim ↔ manual) or setting a new
start builds the runs afresh; switching the path replays the steps taken at the lrs they
used. No textual here: the app (``gradcli.stepper``) only draws what this holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import torch

from gradcli.errors import GradcliError
from gradcli.optimizers.formula import Element
from gradcli.problems.plane import axis_names
from gradcli.records import EpochRecord, RunInfo, StepRecord
from gradcli.spec import RunSpec, labels
from gradcli.train.loop import Training
from gradcli.train.setup import prepare

ENDLESS = 2**62  # the runs' step count: they end when the user quits (or one diverges)
PATHS = ("optim", "manual")


@dataclass
class SteppedRun:
    """One run: its spec and label, its training, the records of the steps taken."""

    spec: RunSpec
    label: str
    training: Training
    info: RunInfo
    records: list[StepRecord] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)  # the lr each step's update used
    ended: str | None = None  # why it takes no more steps (what diverged)
    steps: Iterator[StepRecord | EpochRecord] | None = None
    explainer: Callable[[Element], str] | None = None  # --explain's, set when it is on

    def take(self) -> StepRecord | None:
        """The next record (the first is the start, step 0); None once the run has ended."""
        if self.ended is not None:
            return None
        if self.steps is None:
            self.steps = iter(self.training)
        try:  # a step the loop refuses (an lr whose update overflows; the user's model
            # failing) ends this run, with the loop's one line, and the stepper goes on
            record = next(self.steps, None)
            while isinstance(record, EpochRecord):  # (no --data in the stepper: never)
                record = next(self.steps, None)
        except GradcliError as error:
            self.ended = str(error)
            return None
        if record is None:
            self.ended = self.training.diverged or "ended"
            return None
        self.records.append(record)
        if record.step > 0 and record.lr is not None:
            self.lrs.append(record.lr)
        if self.training.stopped_at is not None or self.training.diverged:
            self.ended = self.training.diverged or "ended"
        return record


class Stepper:
    """The runs of ``specs`` on ``path``, stepped together; ``selected`` is the run whose
    parameters and formula are shown."""

    def __init__(self, specs: list[RunSpec], path: str = "optim") -> None:
        self.specs = specs
        self.path = path
        self.explain = any(s.explain for s in specs)
        self.state = any(s.state for s in specs)
        self.selected = 0
        self.start: tuple[float, float] | None = None  # a start set by the user (2-D only)
        self.lr_factors = [1.0] * len(specs)
        self.runs: list[SteppedRun] = []
        self.reset()

    # -- what the keys do ------------------------------------------------------------------

    def reset(self, replay: list[list[float]] | None = None) -> None:
        """Every run back to its start (``replay``: then the steps at these lrs)."""
        runs = []
        for spec in self.specs:
            training, info = prepare(replace(spec, explain=True, state=False, steps=1), self.path)
            training.steps = ENDLESS
            training.shows = _always
            training.record_state = self.state
            runs.append(SteppedRun(spec, "", training, info, explainer=training.explainer))
        resolved = [replace(r.spec, lr=r.info.lr) for r in runs]
        for run, label in zip(runs, labels(resolved), strict=True):
            run.label = label
        self.runs = runs
        for run, factor in zip(runs, self.lr_factors, strict=True):
            run.training.update.lr = run.info.lr * factor
        if self.start is not None:
            self._place(self.start)
        self._apply_toggles()
        for run in runs:
            run.take()  # step 0: the start
        for k, lrs in enumerate(replay or []):
            for lr in lrs:
                self.runs[k].training.update.lr = lr
                self.runs[k].take()
        for run, factor in zip(runs, self.lr_factors, strict=True):
            run.training.update.lr = run.info.lr * factor

    def step(self) -> None:
        """One step of every run that has not ended."""
        for run in self.runs:
            run.take()

    def scale_lr(self, factor: float) -> None:
        """The selected run's lr times ``factor`` from the next step on."""
        self.lr_factors[self.selected] *= factor
        run = self.runs[self.selected]
        run.training.update.lr = run.info.lr * self.lr_factors[self.selected]

    def switch_path(self) -> None:
        """optim ↔ manual: the runs rebuilt on the other path and the steps taken replayed
        at the lrs they used (the two paths agree bit for bit: nothing shown changes)."""
        replay = [list(run.lrs) for run in self.runs]
        self.path = PATHS[1 - PATHS.index(self.path)]
        self.reset(replay)

    def next_run(self) -> None:
        self.selected = (self.selected + 1) % len(self.runs)

    def toggle_explain(self) -> None:
        self.explain = not self.explain
        self._apply_toggles()

    def toggle_state(self) -> None:
        self.state = not self.state
        self._apply_toggles()

    def move_start(self, dx: int, dy: int) -> None:
        """A 2-D problem: the start moved ``dx``, ``dy`` nudges (5% of the span the path
        picture shows, at least 0.05) and every run begun afresh there."""
        if not self.two_d:
            return
        points = [p for run in self.runs for p in self.points(run)]
        x0, y0 = self.start or points[0]
        nudge = [
            max(0.05, 0.05 * (max(p[i] for p in points) - min(p[i] for p in points)))
            for i in (0, 1)
        ]
        self.start = (x0 + dx * nudge[0], y0 + dy * nudge[1])
        self.reset()

    # -- what the panes show ---------------------------------------------------------------

    @property
    def two_d(self) -> bool:
        return axis_names(self.runs[0].training.problem) is not None

    @property
    def current(self) -> SteppedRun:
        return self.runs[self.selected]

    @property
    def step_count(self) -> int:
        return max(run.records[-1].step for run in self.runs if run.records)

    @staticmethod
    def points(run: SteppedRun) -> list[tuple[float, float]]:
        """The two elements after each step of ``run`` (its path on the surface)."""
        found = []
        for record in run.records:
            flat = [v for p in record.params if isinstance(p.value, tuple) for v in p.value]
            if len(flat) == 2 and all(math.isfinite(v) for v in flat):
                found.append((flat[0], flat[1]))
        return found

    def _place(self, point: tuple[float, float]) -> None:
        for run in self.runs:
            flat = iter(point)
            with torch.no_grad():
                for param in run.training.problem.parameters():
                    if param.requires_grad:
                        values = [next(flat) for _ in range(param.numel())]
                        param.copy_(torch.tensor(values).reshape(param.shape))

    def _apply_toggles(self) -> None:
        for run in self.runs:
            run.training.record_state = self.state
            run.training.explainer = run.explainer if self.explain else None


def _always(step: int) -> bool:
    return True
