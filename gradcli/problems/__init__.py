"""Built-in problems: modules whose ``forward()`` takes no arguments and returns the loss.

Each problem owns its data as buffers, so moving it to a device or dtype moves everything.
The data set is fixed (its own generator, seeded with a constant); ``--seed`` only changes
the initial parameters. Data is made in float64 on the CPU and then converted, so a run
sees the same numbers on every device.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gradcli.errors import GradcliError
from gradcli.usercode import UserCodeFailed, describe, user_code

_DATA_SEED = 20240601


class Problem(nn.Module):
    """Base of the built-ins; a user's module needs only ``forward() -> scalar loss``."""

    reference_label: str = "optimum"

    def reference(self) -> dict[str, Tensor]:
        """Known optimal parameters by name (empty when there is no closed form)."""
        return {}


class DataProblem(Problem):
    """A problem that owns a data set, which ``gradcli ddp`` splits across workers."""

    data_buffers: ClassVar[tuple[str, ...]] = ()

    def samples(self) -> int:
        return len(getattr(self, self.data_buffers[0]))

    def shard(self, rank: int, world: int) -> None:
        """Keep this worker's contiguous share of every data buffer (equal shares)."""
        for name in self.data_buffers:
            setattr(self, name, getattr(self, name).chunk(world)[rank].clone())

    @torch.no_grad()
    def metrics(self) -> dict[str, float]:
        """Extra facts about the current parameters, for the final summary."""
        return {}


class Seed(Problem):
    """``w = [1, 2, 3]``, ``loss = mean(w)``: every gradient element is exactly 1/3."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))

    def forward(self) -> Tensor:
        return self.w.mean()


class LinearRegression(DataProblem):
    """``nn.Linear(3, 1)`` fitted to y = 2·x₀ − 3·x₁ + 0.5·x₂ + 1 + noise (64 samples), MSE."""

    reference_label = "least squares"
    data_buffers: ClassVar[tuple[str, ...]] = ("x", "y")
    true_weight = (2.0, -3.0, 0.5)
    true_bias = 1.0

    def __init__(self, samples: int = 64, noise: float = 0.1) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(_DATA_SEED)
        x = torch.randn(samples, 3, generator=gen, dtype=torch.float64)
        w = torch.tensor(self.true_weight, dtype=torch.float64)
        y = (
            x @ w
            + self.true_bias
            + noise * torch.randn(samples, generator=gen, dtype=torch.float64)
        )
        self.register_buffer("x", x)
        self.register_buffer("y", y.unsqueeze(1))
        self.linear = nn.Linear(3, 1)

    def forward(self) -> Tensor:
        return F.mse_loss(self.linear(self.x), self.y)

    def reference(self) -> dict[str, Tensor]:
        """The least-squares solution of [x, 1] · [w; b] = y, in float64."""
        x = self.x.double().cpu()
        design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        solution = torch.linalg.lstsq(design, self.y.double().cpu()).solution.squeeze(1)
        return {"linear.weight": solution[:3].reshape(1, 3), "linear.bias": solution[3:]}


def two_moons(samples: int, noise: float, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two interleaved half circles in 2-D, labels 0 and 1 (like scikit-learn's make_moons)."""
    half = samples // 2
    angle = torch.linspace(0, math.pi, half, dtype=torch.float64)
    upper = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    lower = torch.stack([1 - torch.cos(angle), 0.5 - torch.sin(angle)], dim=1)
    points = torch.cat([upper, lower]) + noise * torch.randn(
        2 * half, 2, generator=gen, dtype=torch.float64
    )
    labels = torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(half, dtype=torch.long)])
    return points, labels


class MLP(DataProblem):
    """A 2-16-16-2 tanh MLP classifying two moons (128 points), cross-entropy loss."""

    data_buffers: ClassVar[tuple[str, ...]] = ("x", "labels")

    def __init__(self, samples: int = 128, noise: float = 0.1) -> None:
        super().__init__()
        points, labels = two_moons(samples, noise, torch.Generator().manual_seed(_DATA_SEED))
        self.register_buffer("x", points)
        self.register_buffer("labels", labels)
        self.net = nn.Sequential(
            nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)
        )

    def forward(self) -> Tensor:
        return F.cross_entropy(self.net(self.x), self.labels)

    @torch.no_grad()
    def metrics(self) -> dict[str, float]:
        predicted = self.net(self.x).argmax(dim=1)
        return {"accuracy": (predicted == self.labels).double().mean().item()}


class Embedding(Problem):
    """``nn.Embedding(10, 3, sparse=True)`` fitted to target vectors, MSE loss.

    A fixed batch of 16 lookups: rows 0–7 twice each, in a shuffled order; rows 8 and 9
    never. Each lookup has its own target: its row's centre (drawn once) plus noise 0.1, so
    the least-squares optimum puts each looked-up row at the mean of its two targets. The
    gradient is sparse (``torch.sparse_coo_tensor``, one entry per lookup, duplicate rows
    not yet summed), so only the optimizers whose torch implementation takes sparse
    gradients run here: sgd, adagrad (both without weight decay), lbfgs and sparseadam.
    Rows 8 and 9 never enter the loss: any value is optimal for them, and every one of those
    optimizers leaves them where they started.
    """

    reference_label = "least squares"
    rows, dim, looked_up = 10, 3, 8

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(_DATA_SEED)
        lookups = torch.arange(self.looked_up).repeat(2)
        indices = lookups[torch.randperm(len(lookups), generator=gen)]
        centres = torch.randn(self.looked_up, self.dim, generator=gen, dtype=torch.float64)
        noise = torch.randn(len(indices), self.dim, generator=gen, dtype=torch.float64)
        self.register_buffer("indices", indices)
        self.register_buffer("targets", centres[indices] + 0.1 * noise)
        self.embedding = nn.Embedding(self.rows, self.dim, sparse=True)

    def forward(self) -> Tensor:
        return F.mse_loss(self.embedding(self.indices), self.targets)

    def reference(self) -> dict[str, Tensor]:
        """Each looked-up row at the mean of its targets; the other rows as they are (the
        loss does not depend on them)."""
        optimum = self.embedding.weight.detach().double().cpu().clone()
        indices, targets = self.indices.cpu(), self.targets.double().cpu()
        for row in range(self.looked_up):
            optimum[row] = targets[indices == row].mean(dim=0)
        return {"embedding.weight": optimum}


def sparse_gradients(model: nn.Module) -> list[str]:
    """The parameters whose gradients are sparse: those of ``nn.Embedding`` and
    ``nn.EmbeddingBag`` modules made with ``sparse=True``."""
    return [
        f"{name}.weight" if name else "weight"
        for name, module in model.named_modules()
        if isinstance(module, nn.Embedding | nn.EmbeddingBag) and module.sparse
    ]


from gradcli.problems.landscapes import Beale, Himmelblau, Rastrigin, Rosenbrock  # noqa: E402

BUILTINS: dict[str, type[Problem]] = {
    "linear": LinearRegression,
    "seed": Seed,
    "mlp": MLP,
    "rosenbrock": Rosenbrock,
    "embedding": Embedding,
    "beale": Beale,
    "himmelblau": Himmelblau,
    "rastrigin": Rastrigin,
}


def build(name: str, *, seed: int, dtype: torch.dtype, device: torch.device) -> nn.Module:
    """A fresh problem: parameters drawn from ``seed`` on the CPU, then moved to device/dtype.

    ``name`` is a built-in or a user's factory, ``package.module:factory`` or
    ``path/to/file.py:factory``: a callable that returns an ``nn.Module`` whose ``forward()``
    takes no arguments and returns a scalar loss (checked here, on a copy).
    """
    torch.manual_seed(seed)
    if ":" not in name:
        return BUILTINS[name]().to(device=device, dtype=dtype)
    model = _call(name, load_factory(name))
    check_parameters(name, model)
    model = model.to(device=device, dtype=dtype)
    check_protocol(name, model)
    return model


def load_factory(target: str) -> Callable[[], object]:
    """The callable named by ``module:attr`` or ``file.py:attr``.

    Imports see what ``python`` would show them: a module is looked up first in the current
    directory (as ``python -m`` does), a file's own imports first in its folder (as ``python
    file.py`` does)."""
    location, _, attr = target.rpartition(":")
    fail = f"--model {target}"
    if location.endswith(".py") or "/" in location:
        path = Path(location)
        if not path.is_file():
            raise GradcliError(f"{fail}: no such file: {location}")
        _import_path_first(str(path.resolve().parent))
        spec = importlib.util.spec_from_file_location(f"gradcli_model_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise GradcliError(f"{fail}: cannot import {location}")
        module = importlib.util.module_from_spec(spec)
        with user_code(f"{fail}: importing {location}"):
            spec.loader.exec_module(module)
    else:
        _import_path_first(os.getcwd())
        try:
            with user_code(f"{fail}: importing {location}"):
                module = importlib.import_module(location)
        except UserCodeFailed as e:
            missing = e.__context__
            if isinstance(missing, ModuleNotFoundError) and f"{location}.".startswith(
                f"{missing.name}."
            ):
                raise GradcliError(f"{fail}: no module named {missing.name!r}") from None
            raise
    factory = getattr(module, attr, None)
    if factory is None:
        raise GradcliError(f"{fail}: {location} has no attribute {attr!r}")
    if not callable(factory):
        raise GradcliError(f"{fail}: {attr} is {_a(factory)}, not a callable")
    return factory


def _import_path_first(folder: str) -> None:
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _a(value: object) -> str:
    """``a float``, ``an int``, ``None``: what a value is, in words."""
    if value is None:
        return "None"
    name = type(value).__name__
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def _call(target: str, factory: Callable[[], object]) -> nn.Module:
    with user_code(f"--model {target}: the factory"):
        model = factory()
    if not isinstance(model, nn.Module):
        raise GradcliError(f"--model {target}: the factory returned {_a(model)}, not an nn.Module")
    return model


def check_protocol(target: str, model: nn.Module) -> None:
    """``forward()`` takes no arguments and returns a scalar that requires grad."""
    fail = f"--model {target}"
    with user_code(f"{fail}: copying the model (copy.deepcopy, to try forward() on)"):
        probe = copy.deepcopy(model)
    try:
        with user_code(f"{fail}: forward()"):
            loss = probe()
    except UserCodeFailed as e:
        if isinstance(e.__context__, TypeError) and "argument" in str(e.__context__):
            raise GradcliError(
                f"{fail}: forward() must take no arguments and return the loss "
                f"({describe(e.__context__)})"
            ) from None
        raise
    if not isinstance(loss, Tensor):
        raise GradcliError(f"{fail}: forward() returned {_a(loss)}, not a tensor")
    if loss.dim() != 0:
        raise GradcliError(
            f"{fail}: forward() returned a tensor of shape {list(loss.shape)}, not a scalar loss"
        )
    if loss.is_complex() or not loss.is_floating_point():
        dtype = str(loss.dtype).removeprefix("torch.")
        raise GradcliError(
            f"{fail}: forward() returned a {dtype} loss, not a real floating-point one"
        )
    if not loss.requires_grad:
        raise GradcliError(
            f"{fail}: the loss does not require grad (no parameter that "
            "requires grad takes part in it)"
        )
    if not any(p.requires_grad for p in model.parameters()):
        raise GradcliError(
            f"{fail}: the loss requires grad, but the model has no parameter that does "
            "(nn.Parameter attributes are what gets trained)"
        )


def check_parameters(target: str, model: nn.Module) -> None:
    """Parameters gradcli can train and show: real floating point, holding data (not on the
    meta device), with at least one element — checked before the model is converted, so a
    complex parameter is not silently cast to a real one."""
    for name, param in model.named_parameters():
        where = f"--model {target}: parameter {name!r}"
        if param.is_meta:
            raise GradcliError(f"{where} is on the meta device (it holds no values)")
        if param.is_complex() or not param.is_floating_point():
            dtype = str(param.dtype).removeprefix("torch.")
            raise GradcliError(f"{where} is {dtype}; gradcli trains real floating-point ones")
        if param.numel() == 0:
            raise GradcliError(f"{where} has no elements (shape {list(param.shape)})")
