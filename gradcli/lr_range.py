"""The learning-rate range test's arithmetic, torch-free: the ramp, the smoothing, the stop
and the suggestion (Smith 2017, "Cyclical Learning Rates", section 3.3; as fastai's
``lr_find``, Lightning's ``Tuner.lr_find`` and ``torch-lr-finder`` compute them).

- the ramp: step i of n (0-based) trains at ``lr_i = start * (end/start) ** (i/(n-1))``
  (exponential), or ``start + (end-start) * i/(n-1)`` (linear);
- the smoothing: ``avg_i = beta * avg_{i-1} + (1-beta) * loss_i``, ``avg_{-1} = 0``, shown
  bias-corrected as ``smoothed_i = avg_i / (1 - beta**(i+1))`` (Adam's correction, as fastai
  and Lightning do; beta = 0.98);
- the stop: after the first step whose smoothed loss exceeds ``stop_factor`` times the best
  so far (4, as they do), or whose loss is not finite;
- the suggestion: the lr where the smoothed loss falls fastest against log(lr) — the most
  negative slope by central differences (``numpy.gradient``'s, one-sided at the ends), among
  the points up to the lowest smoothed loss, leaving out the first ``SKIP``. fastai calls it
  ``steep``; torch-lr-finder and Lightning take the same argmin (against the step index, the
  same for an exponential ramp).

The engine that trains the steps is ``gradcli.train.lr_find``; this module only counts.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from gradcli.errors import GradcliError

RAMPS = ("exponential", "linear")
FORMATS = ("auto", "number", "plot", "jsonl", "csv", "tsv")  # gradcli lr-find's --format
SKIP = 10  # the first points the suggestion passes over (Lightning's skip_begin, and
# torch-lr-finder's skip_start; a quarter of the points where there are fewer than 40)
RULE = (
    "the lr where the smoothed loss falls fastest against log(lr) (steepest descent), "
    f"from the {SKIP + 1}th step (a quarter in, on under {4 * SKIP} steps) to its lowest point"
)


@dataclass(frozen=True)
class Ramp:
    """The learning rates of the test: ``steps`` of them from ``start`` to ``end``."""

    start: float = 1e-7
    end: float = 10.0
    steps: int = 100
    kind: str = "exponential"

    def check(self) -> Ramp:
        """This ramp, or one line (exit 2) naming what is wrong with it."""
        for name, value in (("--start-lr", self.start), ("--end-lr", self.end)):
            if not (math.isfinite(value) and value > 0):
                raise GradcliError(f"{name} must be a finite number > 0, got {value!r}")
        if self.end <= self.start:
            raise GradcliError(
                f"--end-lr ({self.end:g}) must be above --start-lr ({self.start:g}): the test "
                "raises the lr"
            )
        if self.steps < 2:
            raise GradcliError(f"--steps must be an integer >= 2, got {self.steps}")
        if self.kind not in RAMPS:
            raise GradcliError(
                f"--ramp: unknown ramp {self.kind!r}; choose one of: {', '.join(RAMPS)}"
            )
        return self

    def lr(self, i: int) -> float:
        """The lr of step ``i`` (0 to steps - 1)."""
        t = i / (self.steps - 1)
        if self.kind == "linear":
            return self.start + (self.end - self.start) * t
        return self.start * (self.end / self.start) ** t


@dataclass(frozen=True)
class Point:
    """One step of the test: the lr its update used, the loss before that update (as in a
    step record: at the parameters the earlier, smaller lrs left), and the smoothed loss."""

    step: int
    lr: float
    loss: float
    smoothed: float


@dataclass
class Curve:
    """The points of one test (one seed) as they come, and why it stopped."""

    beta: float = 0.98
    stop_factor: float = 4.0
    seed: int = 0
    points: list[Point] = field(default_factory=list)
    stopped: str | None = None  # why it ended before the ramp's last step
    _avg: float = 0.0
    _best: float = math.inf

    def add(self, step: int, lr: float, loss: float) -> bool:
        """Record a step; False once the test should stop (``stopped`` says why)."""
        if not math.isfinite(loss):
            self.stopped = f"step {step}: the loss is {loss} at lr {lr:.3g}"
            return False
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        smoothed = self._avg / (1 - self.beta ** (len(self.points) + 1))
        self.points.append(Point(step, lr, loss, smoothed))
        if len(self.points) > 1 and smoothed > self.stop_factor * self._best:
            self.stopped = (
                f"step {step}: the smoothed loss {smoothed:.3g} is above {self.stop_factor:g}× "
                f"the best, {self._best:.3g}, at lr {lr:.3g}"
            )
            return False
        self._best = min(self._best, smoothed)
        return True

    def suggestion(self) -> Point | None:
        """The point of steepest descent (see the module's docstring), or None where the
        smoothed loss never fell."""
        return steepest(self.points)


def slopes(points: Sequence[Point]) -> list[float]:
    """d smoothed / d log10(lr) at each point, as ``numpy.gradient`` computes it (second
    order in the interior on uneven spacing, one-sided at the ends)."""
    x = [math.log10(p.lr) for p in points]
    y = [p.smoothed for p in points]
    n = len(points)
    if n < 2:
        return [0.0] * n
    out = [(y[1] - y[0]) / (x[1] - x[0])]
    for i in range(1, n - 1):
        h0, h1 = x[i] - x[i - 1], x[i + 1] - x[i]
        out.append(
            (h0**2 * y[i + 1] + (h1**2 - h0**2) * y[i] - h1**2 * y[i - 1]) / (h0 * h1 * (h0 + h1))
        )
    out.append((y[-1] - y[-2]) / (x[-1] - x[-2]))
    return out


def steepest(points: Sequence[Point]) -> Point | None:
    """The point of most negative slope from the ``SKIP``-th (the first few follow a handful
    of losses, bias correction or not) up to the lowest smoothed loss; None if none falls."""
    skip = min(SKIP, len(points) // 4)
    if len(points) - skip < 2:
        return None
    lowest = min(range(skip, len(points)), key=lambda i: points[i].smoothed)
    falling = [(s, i) for i, s in enumerate(slopes(points)[: lowest + 1]) if i >= skip and s < 0]
    return points[min(falling)[1]] if falling else None


@dataclass(frozen=True)
class Spread:
    """The suggestions of several seeds: their least, median and greatest."""

    lrs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.lrs)

    def describe(self) -> str:
        if len(self.lrs) == 1:
            return f"{self.lrs[0]:.3g}"
        return (
            f"median {self.median:.3g} of {len(self.lrs)} seeds (min {min(self.lrs):.3g}, "
            f"max {max(self.lrs):.3g}; max/min {max(self.lrs) / min(self.lrs):.3g})"
        )
