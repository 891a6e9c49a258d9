"""The built-in problems: the protocol, their data, and that their defaults converge."""

from __future__ import annotations

import pytest
import torch
from lanes import fast_cases

from gradcli import optimizers, problems
from gradcli.optimizers.sgd import SGD
from gradcli.spec import MODELS, RunSpec
from gradcli.train.setup import prepare

CPU = torch.device("cpu")


def test_every_model_name_has_a_problem():
    assert list(problems.BUILTINS) == list(MODELS)


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_takes_nothing_and_returns_a_scalar_loss(name):
    problem = problems.build(name, seed=0, dtype=torch.float64, device=CPU)
    loss = problem()
    assert loss.shape == () and loss.requires_grad and loss.dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in problem.parameters())


@pytest.mark.parametrize("name", ["linear", "mlp", "embedding"])
def test_data_are_buffers_fixed_whatever_the_seed(name):
    a = problems.build(name, seed=0, dtype=torch.float32, device=CPU)
    b = problems.build(name, seed=1, dtype=torch.float32, device=CPU)
    assert dict(a.named_buffers()).keys() == dict(b.named_buffers()).keys() != set()
    for (_, x), (_, y) in zip(a.named_buffers(), b.named_buffers(), strict=True):
        assert torch.equal(x, y)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_seed_problem_is_the_classic_example():
    problem = problems.build("seed", seed=0, dtype=torch.float32, device=CPU)
    assert torch.equal(problem.w, torch.tensor([1.0, 2.0, 3.0]))
    problem().backward()
    assert torch.equal(problem.w.grad, torch.full((3,), 1 / 3))
    assert optimizers.default_lr(SGD, "seed", problem) == 0.001


def test_rosenbrock_starts_at_minus_two_two():
    problem = problems.build("rosenbrock", seed=0, dtype=torch.float64, device=CPU)
    assert problem.xy.tolist() == [-2.0, 2.0]
    assert problem().item() == 409.0  # (1 + 2)² + 100·(2 − 4)²


def train(model: str, path: str = "manual"):
    training, _ = prepare(RunSpec(model=model, device="cpu", steps=100, every=100), path)
    for _ in training:
        pass
    return training.summary()


@pytest.mark.parametrize(
    ("model", "fraction"),
    fast_cases(
        [("linear", 0.01), ("mlp", 0.2), ("rosenbrock", 0.05), ("seed", 0.99), ("embedding", 0.01)],
        2,
        several=True,
    ),
)
def test_loss_falls_under_the_defaults(model, fraction):
    summary = train(model)
    assert summary.final_loss < fraction * summary.first_loss


def test_linear_reaches_the_least_squares_solution():
    summary = train("linear")
    assert summary.reference_label == "least squares"
    assert set(summary.reference) == {"linear.weight", "linear.bias"}
    assert all(r.max_abs_diff < 1e-3 for r in summary.reference.values())
    weight = summary.reference["linear.weight"].target
    assert weight == pytest.approx(problems.LinearRegression.true_weight, abs=0.05)


def test_mlp_learns_the_moons():
    assert train("mlp").metrics["accuracy"] > 0.95


def test_a_users_data_problem_subclasses_what_docs_ddp_names():
    """docs/ddp.md tells users to subclass gradcli.problems.DataProblem: it stays importable
    there, and is the class the built-ins with data derive from."""
    from gradcli.problems import BUILTINS, DataProblem

    assert issubclass(BUILTINS["linear"], DataProblem)
    assert issubclass(BUILTINS["mlp"], DataProblem)
    assert not issubclass(BUILTINS["seed"], DataProblem)
