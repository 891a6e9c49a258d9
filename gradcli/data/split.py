"""The held-out split and the scaling: a ``Raw`` set made a ``DataSet``.

The validation rows are drawn once, by ``torch.randperm`` with a generator seeded with
``--data-seed`` (so ``--seed``, which draws the initial parameters, never changes which
rows are held out). A set with its own test split (MNIST) holds that out unless
``--val-fraction`` is given. A table's input columns are standardised with the mean and
standard deviation of the training rows only (the held-out rows are scaled with them too,
as a model in use would see them).
"""

from __future__ import annotations

import torch

from gradcli.data.dataset import DataSet, Raw, Request
from gradcli.errors import GradcliError

DEFAULT_FRACTION = 0.2


def prepare(raw: Raw, request: Request) -> DataSet:
    """``raw`` split into training and held-out samples, its columns scaled if it asks."""
    fraction = request.val_fraction
    if fraction is None and raw.x_test is not None:
        x_train, y_train, x_val, y_val = raw.x, raw.y, raw.x_test, raw.y_test
        held_out = f"its own test split, {len(raw.x_test)} samples"
    else:
        fraction = DEFAULT_FRACTION if fraction is None else fraction
        count = round(len(raw.x) * fraction)
        if len(raw.x) - count < 1:
            raise GradcliError(
                f"--val-fraction {fraction:g}: leaves no training sample of {len(raw.x)}"
            )
        order = torch.randperm(
            len(raw.x), generator=torch.Generator().manual_seed(request.data_seed)
        )
        val, train = order[:count], order[count:]
        x_train, y_train = raw.x[train], raw.y[train]
        x_val, y_val = (raw.x[val], raw.y[val]) if count else (None, None)
        held_out = f"{fraction:.0%} drawn with --data-seed {request.data_seed}" if count else "none"
    if raw.scale:
        mean = x_train.mean(dim=0)
        std = x_train.std(dim=0)
        std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays 0
        x_train = (x_train - mean) / std
        x_val = None if x_val is None else (x_val - mean) / std
    return DataSet(
        raw.name,
        x_train,
        y_train,
        x_val,
        y_val,
        raw.task,
        raw.outputs,
        held_out,
        raw.features,
        raw.target,
        raw.labels,
        raw.task_reason,
        raw.folder,
        raw.scale,
    )
