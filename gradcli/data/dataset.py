"""What ``--data`` asks for (``Request``) and gets (``DataSet``)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

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
        return (
            f"{self.name}: {len(self.x_train)} training / {val} held-out samples "
            f"({self.held_out}), {shape} → {what}"
        )
