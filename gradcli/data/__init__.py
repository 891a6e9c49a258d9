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

from functools import cache

from gradcli.data import sources, split
from gradcli.data.dataset import CLASSIFICATION, REGRESSION, DataSet, Request


def load(request: Request) -> DataSet:
    """The data set ``request`` names, split and scaled (kept for the process: a run and
    its resumed part, or compare's methods, share it)."""
    return _load(request)


@cache
def _load(request: Request) -> DataSet:
    return split.prepare(sources.read(request), request)


def forget() -> None:
    """Drop the loaded data sets (tests that rewrite a file under the same name)."""
    _load.cache_clear()


__all__ = ["CLASSIFICATION", "REGRESSION", "DataSet", "Request", "forget", "load"]
