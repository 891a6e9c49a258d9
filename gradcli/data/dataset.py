"""What ``--data`` asks for (``Request``), what a source reads (``Raw``) and what a run
gets (``DataSet``): the types every module of ``gradcli/data`` shares."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
SHOWN_LABELS = 10  # labels named in describe(); the rest counted


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
class Raw:
    """Samples as read: inputs float64 ``[n, *shape]``, targets (int64 labels or float64
    ``[n, k]``), and the set's own test split where it has one."""

    name: str
    x: Tensor
    y: Tensor
    task: str
    outputs: int
    x_test: Tensor | None = None
    y_test: Tensor | None = None
    features: tuple[str, ...] = ()
    target: str | None = None
    scale: bool = False  # standardise the input columns (a table's)
    labels: tuple[str, ...] = ()  # class k's name or original value, for k = 0..outputs-1
    task_reason: str = ""  # why this task: "inferred: 3 distinct integer values", "asked for"
    folder: str | None = None  # where the files were found (MNIST's), for the user to see


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
    labels: tuple[str, ...] = ()  # class k's name or original value
    task_reason: str = ""  # why this task (a table's: stated or inferred)
    folder: str | None = None  # where the files were found
    scaled: bool = False  # inputs standardised with the training rows' statistics

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's shape: ``(64,)`` for a table row, ``(1, 8, 8)`` for an image."""
        return tuple(self.x_train.shape[1:])

    @property
    def images(self) -> bool:
        return len(self.shape) == 3

    def describe(self) -> str:
        """``digits: 1438 training / 359 held-out samples (20% drawn with --data-seed 0),
        1×8×8 → 10 classes (0, 1, …, 9)``, and for a table its target, why the task, and the
        scaling; for MNIST the folder its files are in."""
        shape = "×".join(map(str, self.shape))
        if self.task == CLASSIFICATION:
            what = f"{self.outputs} classes"
            plain = tuple(map(str, range(self.outputs)))  # (0, 1, ... say nothing)
            notes = [_labels(self.labels)] if self.labels and self.labels != plain else []
        else:
            what = f"{self.outputs} target" + "s" * (self.outputs != 1)
            notes = ["regression"]
        if self.task_reason:
            notes.append(self.task_reason)
        if notes:
            what += f" ({'; '.join(notes)})"
        val = 0 if self.x_val is None else len(self.x_val)
        line = (
            f"{self.name}: {len(self.x_train)} training / {val} held-out samples "
            f"({self.held_out}), {shape} → {what}"
        )
        if self.target is not None:
            line += f", target column {self.target!r}"
        if self.scaled:
            line += ", inputs standardised on the training rows"
        if self.folder is not None:
            line += f", files in {self.folder}"
        return line


def _labels(labels: tuple[str, ...]) -> str:
    """``0, 1, 2`` or, past ``SHOWN_LABELS``, the first ones and how many more."""
    if len(labels) <= SHOWN_LABELS:
        return ", ".join(labels)
    return ", ".join(labels[: SHOWN_LABELS - 1]) + f", … ({len(labels) - SHOWN_LABELS + 1} more)"
