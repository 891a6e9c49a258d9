"""Where the samples come from, before any split: a ``Raw`` data set per ``--data`` name.

- ``digits``: the file scikit-learn ships inside its package (``datasets/data/
  digits.csv.gz``: 1,797 rows of 64 pixels 0–16 and a label), found without importing
  scikit-learn; pixels scaled to [0, 1], as images 1×8×8.
- ``mnist``, ``fashion-mnist``: their IDX files (``idx.py``).
- anything ending in ``.csv`` or ``.tsv`` (either gzipped, ``.gz``): a user's table
  (``table.py``).
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from gradcli.data.dataset import CLASSIFICATION, TASKS, Raw, Request
from gradcli.errors import GradcliError

NAMED = ("digits", "mnist", "fashion-mnist")
DATA_EXTRA = "pip install 'gradcli[data]'"


def read(request: Request) -> Raw:
    """The samples ``request.data`` names, before any split (a one-line error for a name
    that is none of the sets, or an option that does not fit it)."""
    name = request.data
    if request.task is not None and request.task not in TASKS:
        raise GradcliError(f"--task {request.task}: choose one of: {', '.join(TASKS)}")
    if request.target is not None and not _is_table(name):
        raise GradcliError(
            f"--target {request.target}: only a table (--data FILE.csv) has columns to choose; "
            f"--data {name} has its own labels"
        )
    if name == "digits":
        return digits()
    if name in ("mnist", "fashion-mnist"):
        from gradcli.data import idx

        return idx.read(name, request.data_dir)
    if _is_table(name):
        from gradcli.data import table

        return table.read(name, request.target, request.task)
    raise GradcliError(
        f"--data {name}: unknown data set; choose one of: {', '.join(NAMED)}, or a table "
        "FILE.csv with --target COLUMN"
    )


def _is_table(name: str) -> bool:
    return name.lower().endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz"))


def digits_file() -> Path:
    """scikit-learn's copy of the digits (its package's data folder), or a one-line error
    naming the extra that installs it."""
    found = importlib.util.find_spec("sklearn")
    if found is None or not found.submodule_search_locations:
        raise GradcliError(
            f"--data digits: needs scikit-learn, which ships the digits; {DATA_EXTRA}"
        )
    path = Path(next(iter(found.submodule_search_locations))) / "datasets/data/digits.csv.gz"
    if not path.is_file():
        raise GradcliError(f"--data digits: scikit-learn has no {path}; reinstall it: {DATA_EXTRA}")
    return path


def digits() -> Raw:
    """The 1,797 digits: ``[n, 1, 8, 8]`` pixels in [0, 1] (0–16 divided by 16), labels 0–9."""
    with gzip.open(digits_file(), "rt") as file:
        table = np.loadtxt(file, delimiter=",", dtype=np.float64)
    x = torch.from_numpy(table[:, :64] / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(table[:, 64].astype(np.int64))
    labels = tuple(map(str, range(10)))
    return Raw("digits", x, y, CLASSIFICATION, 10, labels=labels)
