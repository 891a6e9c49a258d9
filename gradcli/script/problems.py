"""The problems as a script writes them: the built-ins' code inlined (their data made by the
same generator and seed as in ``gradcli.problems``), a user's factory imported from its file.

The built-ins here are the classes of ``gradcli/problems/__init__.py`` without what only
gradcli needs (the reference optimum, the metrics, ddp's sharding); the scripts' tests hold
the two to the same numbers bit for bit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gradcli.problems import _DATA_SEED


@dataclass(frozen=True)
class ProblemCode:
    """What a script needs for one problem: imports beyond ``torch`` and ``nn``, its
    definitions, and the expression that makes the model."""

    imports: tuple[str, ...]
    code: str
    make: str


_DATA = f"""\
DATA_SEED = {_DATA_SEED}  # the data set is fixed: its own generator, always this seed
"""

_SEED = '''\
class Seed(nn.Module):
    """w = [1, 2, 3], loss = mean(w): every gradient element is exactly 1/3."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))

    def forward(self) -> torch.Tensor:
        return self.w.mean()
'''

_LINEAR = '''\
class LinearRegression(nn.Module):
    """nn.Linear(3, 1) fitted to y = 2·x₀ − 3·x₁ + 0.5·x₂ + 1 + noise (64 samples), MSE."""

    def __init__(self, samples: int = 64, noise: float = 0.1) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(DATA_SEED)
        x = torch.randn(samples, 3, generator=gen, dtype=torch.float64)
        w = torch.tensor((2.0, -3.0, 0.5), dtype=torch.float64)
        y = x @ w + 1.0 + noise * torch.randn(samples, generator=gen, dtype=torch.float64)
        self.register_buffer("x", x)
        self.register_buffer("y", y.unsqueeze(1))
        self.linear = nn.Linear(3, 1)

    def forward(self) -> torch.Tensor:
        return F.mse_loss(self.linear(self.x), self.y)
'''

_MLP = '''\
def two_moons(
    samples: int, noise: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
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


class MLP(nn.Module):
    """A 2-16-16-2 tanh MLP classifying two moons (128 points), cross-entropy loss."""

    def __init__(self, samples: int = 128, noise: float = 0.1) -> None:
        super().__init__()
        points, labels = two_moons(samples, noise, torch.Generator().manual_seed(DATA_SEED))
        self.register_buffer("x", points)
        self.register_buffer("labels", labels)
        self.net = nn.Sequential(
            nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)
        )

    def forward(self) -> torch.Tensor:
        return F.cross_entropy(self.net(self.x), self.labels)
'''

_ROSENBROCK = '''\
class Rosenbrock(nn.Module):
    """f(x, y) = (1 − x)² + 100·(y − x²)², from (−2, 2); the minimum is 0 at (1, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.xy = nn.Parameter(torch.tensor([-2.0, 2.0]))

    def forward(self) -> torch.Tensor:
        x, y = self.xy[0], self.xy[1]
        return (1 - x) ** 2 + 100 * (y - x**2) ** 2
'''

_EMBEDDING = '''\
class Embedding(nn.Module):
    """nn.Embedding(10, 3, sparse=True) fitted to target vectors, MSE loss: 16 lookups, rows
    0-7 twice each in a shuffled order, each with its own target (its row's centre plus
    noise 0.1). The gradient is sparse."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(DATA_SEED)
        lookups = torch.arange(8).repeat(2)
        indices = lookups[torch.randperm(len(lookups), generator=gen)]
        centres = torch.randn(8, 3, generator=gen, dtype=torch.float64)
        noise = torch.randn(len(indices), 3, generator=gen, dtype=torch.float64)
        self.register_buffer("indices", indices)
        self.register_buffer("targets", centres[indices] + 0.1 * noise)
        self.embedding = nn.Embedding(10, 3, sparse=True)

    def forward(self) -> torch.Tensor:
        return F.mse_loss(self.embedding(self.indices), self.targets)
'''

_FUNCTIONAL = "import torch.nn.functional as F"

BUILTINS: dict[str, ProblemCode] = {
    "seed": ProblemCode((), _SEED, "Seed()"),
    "linear": ProblemCode((_FUNCTIONAL,), _DATA + "\n\n" + _LINEAR, "LinearRegression()"),
    "mlp": ProblemCode(("import math", _FUNCTIONAL), _DATA + "\n\n" + _MLP, "MLP()"),
    "rosenbrock": ProblemCode((), _ROSENBROCK, "Rosenbrock()"),
    "embedding": ProblemCode((_FUNCTIONAL,), _DATA + "\n\n" + _EMBEDDING, "Embedding()"),
}


def problem_code(model: str) -> ProblemCode:
    """A built-in's code, or the lines that import a user's factory the way gradcli does:
    ``file.py:factory`` from that file, its folder first on the import path (as ``python
    file.py`` would have it); ``package.module:factory`` from the current folder."""
    if model in BUILTINS:
        return BUILTINS[model]
    location, _, factory = model.rpartition(":")
    if location.endswith(".py") or "/" in location:
        path = os.path.abspath(location)
        stem = os.path.splitext(os.path.basename(path))[0]
        code = (
            f"# your model: {factory}() from {location}, whose folder comes first on the\n"
            "# import path (as for python on that file)\n"
            f"sys.path.insert(0, {os.path.dirname(path)!r})\n"
            f"spec = importlib.util.spec_from_file_location({stem!r}, {path!r})\n"
            "module = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(module)\n"
        )
        return ProblemCode(("import importlib.util", "import sys"), code, f"module.{factory}()")
    code = (
        f"# your model: {factory}() from the module {location}, found from {os.getcwd()}\n"
        f"sys.path.insert(0, {os.getcwd()!r})\n"
        f"module = importlib.import_module({location!r})\n"
    )
    return ProblemCode(("import importlib", "import sys"), code, f"module.{factory}()")
