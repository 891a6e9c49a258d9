"""Data sets for the mini-batch loop: what ``--data`` names, loaded, split and scaled.

``load(request)`` gives a ``DataSet``: training and held-out tensors on the CPU in float64
(labels as int64), the task (classification or regression) and what the held-out part is.
The sources: ``digits`` (scikit-learn's 1,797 8×8 digits, read from the file its package
ships, no download), a user's CSV (``--data path.csv --target COLUMN``), and MNIST and
Fashion-MNIST from their IDX files (``idx.py``). The split and the scaling are in
``split.py``: the held-out rows are drawn with ``--data-seed``, and a table's columns are
standardised with statistics of the training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from torch import Tensor

from gradcli.errors import GradcliError

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class Request:
    """What the command line asks for (hashable: a loaded set is kept for the process)."""

    data: str
    target: str | None = None
    val_fraction: float | None = None  # None: the set's own test split, else 0.2
    data_seed: int = 0
    data_dir: str | None = None
    task: str | None = None  # None: inferred (a table's target column)


@dataclass(frozen=True, eq=False)
class DataSet:
    """A data set ready to train on: float64 inputs ``[n, *shape]`` and targets (int64
    class labels ``[n]``, or float64 ``[n, k]`` for regression), for training and held out.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor | None
    y_val: Tensor | None
    task: str
    outputs: int  # classes (classification) or target columns (regression)
    held_out: str  # what the validation data is, in words
    features: tuple[str, ...] = ()  # a table's input columns
    target: str | None = None  # a table's target column

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's shape: ``(64,)`` for a table row, ``(1, 8, 8)`` for an image."""
        return tuple(self.x_train.shape[1:])

    @property
    def images(self) -> bool:
        return len(self.shape) == 3

    def describe(self) -> str:
        """``digits: 1438 training / 359 held-out samples (20% drawn with --data-seed 0),
        1×8×8 → 10 classes``."""
        shape = "×".join(map(str, self.shape))
        what = (
            f"{self.outputs} classes"
            if self.task == CLASSIFICATION
            else (f"{self.outputs} target" + "s" * (self.outputs != 1) + " (regression)")
        )
        val = 0 if self.x_val is None else len(self.x_val)
        return f"{self.name}: {len(self.x_train)} training / {val} held-out samples ({self.held_out}), {shape} → {what}"


def load(request: Request) -> DataSet:
    """The data set ``request`` names, split and scaled (kept for the process: a run and
    its resumed part, or compare's methods, share it)."""
    return _load(request)


@cache
def _load(request: Request) -> DataSet:
    from gradcli.data import sources, split

    raw = sources.read(request)
    return split.prepare(raw, request)


def forget() -> None:
    """Drop the loaded data sets (tests that rewrite a file under the same name)."""
    _load.cache_clear()


__all__ = ["CLASSIFICATION", "REGRESSION", "DataSet", "GradcliError", "Request", "forget", "load"]
