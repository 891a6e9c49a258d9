"""The training loop, shared by both paths: forward, backward, update, record.

The two paths differ only in the update:

- ``optim``: ``optimizer.zero_grad(); loss = model(); loss.backward(); optimizer.step()``
- ``manual``: autograd computes the gradients, a rule from ``gradcli.rules`` updates each
  parameter in place under ``torch.no_grad()``, and the gradients are dropped after.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from gradcli import problems
from gradcli.errors import GradcliError
from gradcli.records import Reference, StepRecord, Summary, measure, values_of
from gradcli.rules import RULES, State
from gradcli.spec import RunSpec


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


class Update(Protocol):
    """How a path turns gradients into new parameters."""

    state: dict[Tensor, State]

    def zero_grad(self) -> None: ...

    def step(self) -> None: ...


class ManualUpdate:
    """The hand-written path: a pure rule from ``gradcli.rules``, state kept here."""

    def __init__(
        self,
        params: list[nn.Parameter],
        optimizer: str,
        lr: float,
        hyperparameters: dict[str, float | bool],
    ) -> None:
        self.params = params
        self.rule = RULES[optimizer]
        self.lr = lr
        self.hyperparameters = hyperparameters
        # Keyed by parameter and created lazily, like torch.optim.Optimizer.state.
        self.state: dict[Tensor, State] = defaultdict(dict)

    def zero_grad(self) -> None:
        """Nothing to do: ``step`` already dropped the gradients it used."""

    def step(self) -> None:
        # Like torch.optim, skip parameters that got no gradient.
        params = [p for p in self.params if p.grad is not None]
        with torch.no_grad():
            self.rule(
                params,
                [p.grad for p in params],
                [self.state[p] for p in params],
                lr=self.lr,
                **self.hyperparameters,
            )
        for p in params:
            # What optimizer.zero_grad() does by default since torch 2.0. Zeroing in place
            # would turn a -0.0 gradient into +0.0 at the next backward.
            p.grad = None


class OptimUpdate:
    """The library path: a ``torch.optim`` optimizer."""

    def __init__(
        self,
        params: list[nn.Parameter],
        optimizer: str,
        lr: float,
        hyperparameters: dict[str, float | bool],
    ) -> None:
        optimizer_class = {"sgd": torch.optim.SGD}[optimizer]
        self.optimizer = optimizer_class(params, lr=lr, **hyperparameters)
        self.state = self.optimizer.state

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self) -> None:
        self.optimizer.step()


UPDATES: dict[str, type[ManualUpdate] | type[OptimUpdate]] = {
    "manual": ManualUpdate,
    "optim": OptimUpdate,
}


@dataclass
class Training:
    """One run of ``steps`` updates; iterate it for the records of the shown steps."""

    problem: nn.Module
    update: Update
    steps: int
    shows: Callable[[int], bool]
    first_loss: float | None = None

    def __iter__(self) -> Iterator[StepRecord]:
        names = [name for name, _ in self.problem.named_parameters()]
        params = [param for _, param in self.problem.named_parameters()]
        yield measure(0, names, params)
        for step in range(1, self.steps + 1):
            # 1. forward and backward at the current parameters
            self.update.zero_grad()
            loss = self.problem()
            loss.backward()
            if step == 1:
                self.first_loss = loss.item()
            # 2. keep what the record needs (only for steps that are shown). The gradient
            #    tensors survive the update: zero_grad() drops them, it does not zero them.
            shown = self.shows(step)
            before = [p.detach().clone() for p in params] if shown else None
            grads = [p.grad for p in params]
            # 3. update
            self.update.step()
            # 4. record
            if shown:
                yield measure(step, names, params, loss=loss, grads=grads, before=before)

    def summary(self) -> Summary:
        """Call after iterating: loss at the start and at the final parameters."""
        with torch.no_grad():
            final_loss = self.problem().item()
        params = dict(self.problem.named_parameters())
        reference = getattr(self.problem, "reference", dict)()
        metrics = getattr(self.problem, "metrics", dict)()
        return Summary(
            steps=self.steps,
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
        )


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


def prepare(spec: RunSpec, path: str) -> tuple[Training, RunInfo]:
    """Build the problem and the update for ``spec`` on ``path`` (manual or optim)."""
    device = resolve_device(spec.device)
    problem = problems.build(
        spec.model, seed=spec.seed, dtype=getattr(torch, spec.dtype), device=device
    )
    lr = problems.default_lr(problem) if spec.lr is None else spec.lr
    hyperparameters = spec.hyperparameters()
    update = UPDATES[path](list(problem.parameters()), spec.optimizer, lr, hyperparameters)
    info = RunInfo(
        path, spec.model, spec.optimizer, lr, hyperparameters, str(device), spec.dtype, spec.steps
    )
    return Training(problem, update, spec.steps, spec.shows), info
