"""``--epochs`` made into steps: the one rule for which of ``--steps`` and ``--epochs`` wins.

With ``--data`` a run is counted in steps (one update per batch). ``--epochs E`` makes it
E × (batches per epoch) steps; ``--steps N`` alone stops at step N, wherever that is in an
epoch; both given must agree, else one line says what each means. Knowing the batches per
epoch needs the data set's size, so this loads the data (kept for the run, which loads it
again for free).
"""

from __future__ import annotations

import math
from typing import Any

import typer

from gradcli.cli.resumed import given
from gradcli.errors import GradcliError


def batches_per_epoch(options: dict[str, Any], world: int = 1) -> int:
    """How many batches one pass over the training data makes, for these options (``world``
    ranks: each rank's, of its share as ``DistributedSampler`` deals it: equal shares, the
    last padded, or with ``--drop-last`` cut, to a multiple of ``world``)."""
    from gradcli.data import load
    from gradcli.train.setup import data_request

    samples = len(load(data_request(options)).x_train)
    if world > 1:
        samples = samples // world if options.get("drop_last") else math.ceil(samples / world)
    size = options.get("batch_size") or samples
    return samples // size if options.get("drop_last") else math.ceil(samples / size)


def with_epochs(ctx: typer.Context, options: dict[str, Any], world: int = 1) -> dict[str, Any]:
    """``options`` with ``steps`` decided by ``epochs`` where that is given (on the command
    line, in a config file, or by the checkpoint ``--resume`` goes on from); ``world``: the
    ranks of ``gradcli ddp``, each taking its own batches."""
    epochs = options.get("epochs")
    if options.get("data") is None or epochs is None:
        return options
    if isinstance(epochs, int) and epochs < 1:
        raise GradcliError(f"--epochs must be an integer >= 1, got {epochs}")
    batches = batches_per_epoch(options, world)
    k = options.get("accumulate", 1)
    if isinstance(k, int) and k > 1:  # --accumulate K: a step (an update) takes K batches
        batches //= k
    steps = epochs * batches
    if given(ctx, "steps") and not given(ctx, "epochs"):  # --steps given, --epochs only saved
        return {**options, "epochs": None}
    if given(ctx, "steps") and options["steps"] != steps:
        raise GradcliError(
            f"--steps {options['steps']} and --epochs {epochs} disagree: {epochs} epoch"
            f"{'s' * (epochs != 1)} of {batches} batches are {steps} steps; give one of them"
        )
    return {**options, "steps": steps}
