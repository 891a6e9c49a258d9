"""The training loop, shared by both paths: forward, backward, update, record.

The two paths differ only in the update:

- ``optim``: ``optimizer.zero_grad(); loss = model(); loss.backward(); optimizer.step()``
- ``manual``: autograd computes the gradients, a rule from ``gradcli.rules`` updates each
  parameter in place under ``torch.no_grad()``, and the gradients are dropped after.
"""

from __future__ import annotations

import inspect
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from functools import partial

import torch
from torch import Tensor, nn

from gradcli import checkpoint, problems, threads
from gradcli.errors import GradcliError
from gradcli.explain import Element, explain
from gradcli.records import (
    HostCopy,
    Recorder,
    Reference,
    Stats,
    StepRecord,
    Summary,
    measure,
    values_of,
)
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

    def load_state(self, state: dict[int, dict[str, Tensor]]) -> None:
        """State saved by index (a checkpoint), onto this run's parameters and device."""
        for index, values in state.items():
            param = self.params[index]
            self.state[param] = {
                k: v if k == "step" else v.to(param.device) for k, v in values.items()
            }

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


TORCH_OPTIMIZERS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}


def torch_kwargs(hyperparameters: dict[str, float | bool]) -> dict[str, object]:
    """gradcli's flat hyperparameters as torch.optim's keyword arguments (beta1, beta2 → betas)."""
    kwargs: dict[str, object] = dict(hyperparameters)
    if "beta1" in kwargs:
        kwargs["betas"] = (kwargs.pop("beta1"), kwargs.pop("beta2"))
    return kwargs


def impl_kwargs(optimizer: str, impl: str | None, device: torch.device) -> dict[str, bool]:
    """``--impl`` as torch.optim's ``foreach``/``fused`` flags; an error where torch lacks it."""
    if impl is None:
        return {}  # torch's own default: foreach on CUDA, the for-loop on the CPU
    if impl == "forloop":
        return {"foreach": False}
    if impl == "foreach":
        return {"foreach": True}
    optimizer_class = getattr(torch.optim, TORCH_OPTIMIZERS[optimizer])
    if "fused" not in inspect.signature(optimizer_class).parameters:
        raise GradcliError(
            f"--impl fused: torch.optim.{optimizer_class.__name__} has no fused "
            "implementation; use --impl forloop or foreach"
        )
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    if device.type not in _get_fused_kernels_supported_devices():
        raise GradcliError(
            f"--impl fused: torch {torch.__version__} has no fused "
            f"{optimizer_class.__name__} on {device.type}; use --impl forloop "
            "or foreach"
        )
    return {"fused": True}


class OptimUpdate:
    """The library path: a ``torch.optim`` optimizer."""

    def __init__(
        self,
        params: list[nn.Parameter],
        optimizer: str,
        lr: float,
        hyperparameters: dict[str, float | bool],
        impl: dict[str, bool] | None = None,
    ) -> None:
        self.lr = lr
        optimizer_class = getattr(torch.optim, TORCH_OPTIMIZERS[optimizer])
        self.optimizer = optimizer_class(
            params, lr=lr, **torch_kwargs(hyperparameters), **(impl or {})
        )

    @property
    def state(self) -> dict[Tensor, State]:
        return self.optimizer.state  # (load_state_dict replaces the dict: never keep it)

    def load_state(self, state: dict[int, dict[str, Tensor]]) -> None:
        """State saved by index (a checkpoint). The hyperparameters stay this run's own."""

        groups = [
            {
                **{k: v for k, v in group.items() if k != "params"},
                "params": list(range(len(group["params"]))),
            }
            for group in self.optimizer.param_groups
        ]
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self) -> None:
        self.optimizer.step()


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
    should_stop: Callable[[], bool] = lambda: False
    on_step: Callable[[int], None] = lambda step: None
    first_loss: float | None = None
    stopped_at: int | None = None  # set when the run ended early
    diverged: str | None = None  # what went non-finite, when that ended it

    def __iter__(self) -> Iterator[StepRecord]:
        names = [name for name, _ in self.problem.named_parameters()]
        params = [param for _, param in self.problem.named_parameters()]
        recorder = Recorder(names, params)
        if self.start == 0:
            yield measure(0, names, params)
        for step in range(self.start + 1, self.start + self.steps + 1):
            # 1. forward and backward at the current parameters
            loss = self.forward_backward()
            grads = [p.grad for p in params]
            # 2. decide whether the step is shown: by --every, by Ctrl-C, or because the loss
            #    or a gradient went non-finite (checked here only for steps not shown anyway;
            #    a shown step's record carries the same facts)
            stop = self.should_stop()
            shown = self.shows(step) or stop
            if not shown:
                loss_value, finite = self._check(loss, grads)  # the step's one sync
                shown = not finite
            # 3. keep what the record needs. The gradient tensors survive the update:
            #    zero_grad() drops them, it does not zero them.
            before = recorder.snapshot() if shown else None
            prior = self._first_elements_of_state(params) if shown and self.explainer else None
            # 4. update
            self.update.step()
            # 5. record (the step's one sync)
            if before is not None:
                states = (
                    [self.update.state.get(p, {}) for p in params] if self.record_state else None
                )
                record = recorder.measure(step, loss, grads, before, states)

                loss_value, finite = record.loss or 0.0, _finite(record)
                if prior is not None:
                    params_before = recorder.unpack(before)
                    record = replace(
                        record,
                        explain=self._explain(step, names, params, grads, params_before, prior),
                    )
                yield record
            if step == self.start + 1:
                self.first_loss = loss_value
            self.on_step(step)
            stop = stop or not finite
            if stop:
                self.stopped_at = step
                if not finite:
                    self.diverged = self._what_diverged(step, loss_value, names, grads)
                return

    @staticmethod
    def _check(loss: Tensor, grads: list[Tensor | None]) -> tuple[float, bool]:
        """The loss, and whether it and every gradient are finite, in one host copy. A
        gradient's norm is finite exactly when all its elements are (or it overflows, which
        counts as diverging too); one norm per gradient is far cheaper than isfinite."""
        present = [g for g in grads if g is not None]
        norms = torch._foreach_norm(present) if present else []
        finite = torch.isfinite(
            torch.stack([loss.detach().float(), *[n.float() for n in norms]])
        ).all()
        loss_value, all_finite = torch.stack([loss.detach().double(), finite.double()]).tolist()
        return loss_value, bool(all_finite)

    @staticmethod
    def _what_diverged(step: int, loss: float, names: list[str], grads: list[Tensor | None]) -> str:
        bad = [
            name
            for name, g in zip(names, grads, strict=True)
            if g is not None and not bool(g.isfinite().all())
        ]
        what = f"the loss is {loss}" if not math.isfinite(loss) else f"the loss is {loss:.6g}"
        if bad:
            what += f" and the gradient of {', '.join(bad)} is not finite"
        return f"step {step}: {what}"

    def forward_backward(self) -> Tensor:
        """Zero the gradients (the optim path's way), compute the loss, backpropagate."""
        self.update.zero_grad()
        loss = self.problem()
        loss.backward()
        return loss

    def _first_elements_of_state(self, params: list[Tensor]) -> list[dict[str, Tensor]]:
        return [
            {
                key: value.reshape(-1)[0].clone()
                for key, value in self.update.state.get(p, {}).items()
                if key != "step"
            }
            for p in params
        ]

    def _explain(
        self,
        step: int,
        names: list[str],
        params: list[Tensor],
        grads: list[Tensor | None],
        before: list[Tensor],
        prior: list[dict[str, Tensor]],
    ) -> tuple[str, ...]:
        """Lines for --explain, from one host copy of the first elements involved."""
        assert self.explainer is not None
        after = self._first_elements_of_state(params)
        copy = HostCopy()
        for i, param in enumerate(params):
            grad = grads[i]
            for t in (before[i], param, grad if grad is not None else torch.zeros_like(param)):
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
                        Element(name, step, self.update.lr, theta, grad, theta_new, was, now)
                    )
                )
        return tuple(lines)

    def summary(self) -> Summary:
        """Call after iterating: loss at the start and at the final parameters."""
        with torch.no_grad():
            final_loss = self.problem().item()
        params = dict(self.problem.named_parameters())
        reference = getattr(self.problem, "reference", dict)()
        metrics = getattr(self.problem, "metrics", dict)()
        return Summary(
            steps=self.start + self.steps,
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
    """Build the problem and the update for ``spec`` on ``path`` (manual or optim), and
    load ``spec.resume`` into them if given."""
    if path == "manual" and spec.impl is not None:
        raise GradcliError(
            "--impl chooses torch.optim's implementation: it applies to gradcli optim and compare"
        )
    device = resolve_device(spec.device)
    if spec.save is not None:
        checkpoint.check_target(spec.save)
    problem = problems.build(
        spec.model, seed=spec.seed, dtype=getattr(torch, spec.dtype), device=device
    )
    threads.suit(problem, device)

    lr = problems.default_lr(problem, spec.optimizer) if spec.lr is None else spec.lr
    hyperparameters = spec.hyperparameters()
    params = list(problem.parameters())
    update: ManualUpdate | OptimUpdate
    if path == "manual":
        update = ManualUpdate(params, spec.optimizer, lr, hyperparameters)
    else:
        update = OptimUpdate(
            params,
            spec.optimizer,
            lr,
            hyperparameters,
            impl_kwargs(spec.optimizer, spec.impl, device),
        )
    start = 0
    if spec.resume is not None:
        saved = checkpoint.load(spec.resume)
        update.load_state(checkpoint.restore(spec.resume, saved, problem, params, asdict(spec)))
        start = int(saved["step"])
    explainer = None
    if spec.explain:
        explainer = partial(explain, spec.optimizer, hyperparameters)
    info = RunInfo(
        path,
        spec.model,
        spec.optimizer,
        lr,
        hyperparameters,
        str(device),
        spec.dtype,
        start + spec.steps,
    )
    last = start + spec.steps
    training = Training(
        problem,
        update,
        spec.steps,
        lambda step: spec.shows(step, last),
        start,
        spec.state,
        explainer,
    )
    return training, info


def save_checkpoint(training: Training, spec: RunSpec) -> None:
    """Write ``spec.save``: the state after the last step ``training`` completed."""
    assert spec.save is not None
    done = training.start + (
        training.steps if training.stopped_at is None else training.stopped_at - training.start
    )
    params = list(training.problem.parameters())
    checkpoint.save(
        spec.save,
        checkpoint.build(training.problem, params, training.update.state, done, asdict(spec)),
    )
