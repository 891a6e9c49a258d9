"""The learning rate a run starts from when --lr is not given, for every built-in problem and
every optimizer: frozen here as it was when the rates moved into the optimizer modules (issue
21), so that moving them changed none."""

from __future__ import annotations

import pytest

from gradcli import optimizers, problems
from gradcli.spec import MODELS

# fmt: off
DEFAULT_LRS = {
    "linear": {"adadelta": 10.0, "adafactor": 0.3, "adagrad": 0.5, "adam": 0.1, "adamax": 0.3, "adamw": 0.1, "asgd": 0.1, "lbfgs": 1.0, "muon": 0.3, "nadam": 0.1, "radam": 0.3, "rmsprop": 0.05, "rprop": 0.01, "sgd": 0.1, "sparseadam": 0.001},  # noqa: E501
    "seed": {"adadelta": 1.0, "adafactor": 0.01, "adagrad": 0.01, "adam": 0.001, "adamax": 0.002, "adamw": 0.001, "asgd": 0.01, "lbfgs": 1.0, "muon": 0.001, "nadam": 0.002, "radam": 0.001, "rmsprop": 0.01, "rprop": 0.01, "sgd": 0.001, "sparseadam": 0.001},  # noqa: E501
    "mlp": {"adadelta": 3.0, "adafactor": 0.1, "adagrad": 0.1, "adam": 0.01, "adamax": 0.1, "adamw": 0.01, "asgd": 1.0, "lbfgs": 1.0, "muon": 0.1, "nadam": 0.1, "radam": 0.3, "rmsprop": 0.01, "rprop": 0.01, "sgd": 1.0, "sparseadam": 0.001},  # noqa: E501
    "rosenbrock": {"adadelta": 3.0, "adafactor": 0.3, "adagrad": 0.5, "adam": 0.1, "adamax": 0.3, "adamw": 0.1, "asgd": 0.0005, "lbfgs": 1.0, "muon": 0.1, "nadam": 0.1, "radam": 0.0001, "rmsprop": 0.01, "rprop": 0.01, "sgd": 0.001, "sparseadam": 0.001},  # noqa: E501
    "embedding": {"adadelta": 1.0, "adafactor": 0.01, "adagrad": 0.5, "adam": 0.001, "adamax": 0.002, "adamw": 0.001, "asgd": 0.01, "lbfgs": 1.0, "muon": 0.001, "nadam": 0.002, "radam": 0.001, "rmsprop": 0.01, "rprop": 0.01, "sgd": 1.0, "sparseadam": 0.1},  # noqa: E501
    "beale": {"adadelta": 1.0, "adafactor": 0.01, "adagrad": 0.5, "adam": 0.1, "adamax": 0.002, "adamw": 0.1, "asgd": 0.01, "lbfgs": 1.0, "muon": 0.001, "nadam": 0.002, "radam": 0.001, "rmsprop": 0.01, "rprop": 0.01, "sgd": 0.01, "sparseadam": 0.001},  # noqa: E501
    "himmelblau": {"adadelta": 1.0, "adafactor": 0.01, "adagrad": 0.5, "adam": 0.1, "adamax": 0.002, "adamw": 0.1, "asgd": 0.01, "lbfgs": 1.0, "muon": 0.001, "nadam": 0.002, "radam": 0.001, "rmsprop": 0.05, "rprop": 0.01, "sgd": 0.01, "sparseadam": 0.001},  # noqa: E501
    "rastrigin": {"adadelta": 1.0, "adafactor": 0.01, "adagrad": 0.5, "adam": 0.1, "adamax": 0.002, "adamw": 0.1, "asgd": 0.01, "lbfgs": 1.0, "muon": 0.001, "nadam": 0.002, "radam": 0.001, "rmsprop": 0.05, "rprop": 0.01, "sgd": 0.001, "sparseadam": 0.001},  # noqa: E501
}
# fmt: on


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_problem_and_optimizer_keeps_its_default_lr(model):
    problem = problems.BUILTINS[model]
    chosen = {
        o.name: optimizers.default_lr(o, model, problem) for o in optimizers.catalog().values()
    }
    assert chosen == DEFAULT_LRS[model]


def test_the_table_covers_every_builtin_problem_and_optimizer():
    assert sorted(DEFAULT_LRS) == sorted(MODELS)
    for row in DEFAULT_LRS.values():
        assert sorted(row) == sorted(optimizers.catalog())
