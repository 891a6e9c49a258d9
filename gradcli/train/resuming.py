"""Resuming with other hyperparameters than the checkpoint's.

A resumed run may change any hyperparameter whose update uses the state the checkpoint has
(``--lr``, ``--weight-decay``, ``--betas``, turning ``--amsgrad`` off: torch keeps the
extra state and does not read it). One that needs state the checkpoint lacks — Adam's
``--amsgrad`` its ``max_exp_avg_sq``, RMSprop's ``--centered`` its ``grad_avg`` and
``--momentum`` its ``momentum_buffer`` — is refused before the run: torch would fail on the
first step (``KeyError``), and making that state up (zeros) would not continue the saved run.

What a run's settings need is found by doing: one update of a copy of the model, with zero
gradients, by this run's own update.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from gradcli import optimizers, problems
from gradcli.errors import GradcliError


class _Update(Protocol):
    closure: bool
    state: Any

    def step(self, closure: Callable[[], Tensor] | None = None) -> None: ...


def check_state_fits(
    path: str,
    problem: nn.Module,
    make_update: Callable[[list[nn.Parameter]], _Update],
    saved_state: Mapping[int, Mapping[str, Any]],
    saved_config: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
) -> None:
    """Refuse ``saved_state`` when this run's update needs a state key it lacks."""
    needed = _state_keys(problem, make_update)
    for index, values in saved_state.items():
        if not values or index >= len(needed):
            continue  # (a parameter the saved run never updated starts afresh, as in torch)
        missing = sorted(needed[index] - set(values))
        if missing:
            changed = _changed(saved_config, hyperparameters)
            because = f", which this run's {changed} needs" if changed else ", which this run needs"
            raise GradcliError(
                f"--resume {path}: the checkpoint's optimizer state has no "
                f"{', '.join(missing)}{because}; resume with the checkpoint's settings, "
                "or start a new run"
            )


def _state_keys(
    problem: nn.Module, make_update: Callable[[list[nn.Parameter]], _Update]
) -> list[set[str]]:
    """The state keys each parameter has after one update by ``make_update``'s update."""
    probe = copy.deepcopy(problem)
    params = list(probe.parameters())
    update = make_update(params)
    if update.closure:  # LBFGS: its state does not depend on its settings
        return []
    sparse = set(problems.sparse_gradients(probe))
    for name, param in probe.named_parameters():
        zero = torch.zeros_like(param)
        param.grad = zero.to_sparse() if name in sparse else zero
    update.step()
    return [set(update.state.get(param, {})) for param in params]


def _changed(saved_config: Mapping[str, Any], hyperparameters: Mapping[str, Any]) -> str:
    """``amsgrad=True (the checkpoint's: False)``, for each hyperparameter that differs."""
    defaults = optimizers.find(str(saved_config["optimizer"])).defaults
    settings = saved_config.get("settings")
    saved = {**defaults, **(settings if isinstance(settings, dict) else {})}
    return ", ".join(
        f"{name}={value!r} (the checkpoint's: {saved[name]!r})"
        for name, value in hyperparameters.items()
        if name in saved and saved[name] != value
    )
