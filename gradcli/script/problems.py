"""The problems as a script writes them: the built-ins' code inlined (their data made by the
same generator and seed as in ``gradcli.problems``), a user's factory imported from its file.

The built-ins here are the classes of ``gradcli/problems/__init__.py`` without what only
gradcli needs (the reference optimum, the metrics, ddp's sharding); the scripts' tests hold
the two to the same numbers bit for bit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from gradcli.problems import _DATA_SEED


@dataclass(frozen=True)
class ProblemCode:
    """What a script needs for one problem: imports beyond ``json`` and ``torch``, its
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
_NN = "from torch import nn"

BUILTINS: dict[str, ProblemCode] = {
    "seed": ProblemCode((_NN,), _SEED, "Seed()"),
    "linear": ProblemCode((_FUNCTIONAL, _NN), _DATA + "\n\n" + _LINEAR, "LinearRegression()"),
    "mlp": ProblemCode(("import math", _FUNCTIONAL, _NN), _DATA + "\n\n" + _MLP, "MLP()"),
    "rosenbrock": ProblemCode((_NN,), _ROSENBROCK, "Rosenbrock()"),
    "embedding": ProblemCode((_FUNCTIONAL, _NN), _DATA + "\n\n" + _EMBEDDING, "Embedding()"),
}


def _string(text: str) -> str:
    """``text`` as a double-quoted Python string."""
    return json.dumps(text, ensure_ascii=False)


def problem_code(model: str) -> ProblemCode:
    """A built-in's code, or the lines that import a user's factory the way gradcli does:
    ``file.py:factory`` from that file (its path as given, from the folder the script runs
    in), its folder first on the import path (as ``python file.py`` would have it);
    ``package.module:factory`` from the current folder."""
    if model in BUILTINS:
        return BUILTINS[model]
    location, _, factory = model.rpartition(":")
    imports = ("import importlib.util" if location.endswith(".py") or "/" in location
               else "import importlib", "import os", "import sys")
    if location.endswith(".py") or "/" in location:
        stem = os.path.splitext(os.path.basename(location))[0]
        path = f"path = {_string(location)}"
        code = (
            f"# your model: {factory}() from {os.path.basename(location)}, its folder first on\n"
            "# the import path, as when python runs that file\n"
            + (path if len(path) <= 100 else path + "  # noqa: E501")
            + "\nsys.path.insert(0, os.path.dirname(os.path.abspath(path)))\n"
            f"spec = importlib.util.spec_from_file_location({_string(stem)}, path)\n"
            "module = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(module)\n"
        )
        return ProblemCode(imports, code, f"module.{factory}()")
    code = (
        f"# your model: {factory}() from the module {location}, found from the current\n"
        "# folder first, as gradcli finds it\n"
        "sys.path.insert(0, os.getcwd())\n"
        f"module = importlib.import_module({_string(location)})\n"
    )
    return ProblemCode(imports, code, f"module.{factory}()")
