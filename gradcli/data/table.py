"""A user's table for ``--data FILE.csv --target COLUMN``: read with the csv module, checked
cell by cell, made a ``Raw`` set.

The file: comma-separated (``.csv``) or tab-separated (``.tsv``), either gzipped (``.gz``),
UTF-8, a header row naming the columns. ``--target`` names the column to predict; every
other column is an input feature and must hold finite numbers (standardised later, in
``split.py``, with the training rows' statistics). The task is the one asked for, or
inferred: classification when every target value is an integer and there are at most
``MAX_INFERRED_CLASSES`` of them, or when the target holds words (``setosa``); regression
otherwise. Classes are the distinct values sorted (numbers by value, words as text), mapped
to 0..k-1; their original values are kept to be shown. Every fault is one line naming the
file, the line (as an editor counts them: the header is line 1) and the column.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import math
import zlib
from collections.abc import Iterator

import numpy as np
import torch

from gradcli.data.dataset import CLASSIFICATION, REGRESSION, Raw
from gradcli.errors import GradcliError

MAX_INFERRED_CLASSES = 20


def read(path: str, target: str | None, task: str | None) -> Raw:
    """The table at ``path``: its non-target columns as float64 ``[n, features]``, the
    target as int64 classes ``[n]`` or float64 ``[n, 1]``."""
    header, rows = _rows(path)
    column = _target_index(path, header, target)
    name = header[column]
    features = tuple(h for i, h in enumerate(header) if i != column)
    if not features:
        raise GradcliError(
            f"{path}: only the target column {name!r}; a table needs at least one other "
            "column as input"
        )
    x = np.empty((len(rows), len(features)), dtype=np.float64)
    for r, (line, cells) in enumerate(rows):
        x[r] = [_number(path, line, header[i], c) for i, c in enumerate(cells) if i != column]
    labels_in = [(line, cells[column].strip()) for line, cells in rows]
    y, task, outputs, labels, reason = _target(path, name, labels_in, task)
    return Raw(
        path,
        torch.from_numpy(x),
        y,
        task,
        outputs,
        features=features,
        target=name,
        scale=True,
        labels=labels,
        task_reason=reason,
    )


def _rows(path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's names and each non-blank row with its line number, every row with as
    many cells as the header."""
    try:
        header: list[str] | None = None
        rows: list[tuple[int, list[str]]] = []
        for line, cells in _records(path):
            if header is None:
                header = _header(path, cells)
            elif len(cells) != len(header):
                raise GradcliError(
                    f"{path}: line {line} has {len(cells)} cell"
                    + "s" * (len(cells) != 1)
                    + f", the header has {len(header)} columns"
                )
            else:
                rows.append((line, cells))
    except FileNotFoundError:
        raise GradcliError(f"--data {path}: no such file") from None
    except IsADirectoryError:
        raise GradcliError(f"--data {path}: is a folder; name a .csv or .tsv file") from None
    except PermissionError:
        raise GradcliError(f"--data {path}: not readable (permission denied)") from None
    except UnicodeDecodeError as e:
        raise GradcliError(f"--data {path}: not UTF-8 text ({e.reason})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise GradcliError(f"--data {path}: not a readable gzip file ({e})") from None
    except csv.Error as e:
        raise GradcliError(f"--data {path}: not a readable table ({e})") from None
    except OSError as e:
        raise GradcliError(f"--data {path}: not readable ({e.strerror or e})") from None
    if header is None:
        raise GradcliError(f"--data {path}: empty file; a table needs a header row and rows")
    if not rows:
        raise GradcliError(f"--data {path}: a header but no rows of data")
    return header, rows


def _records(path: str) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank record and the line it ends on (``newline=""``, as csv asks)."""
    plain = path.lower().removesuffix(".gz")
    delimiter = "\t" if plain.endswith(".tsv") else ","
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file, delimiter=delimiter)
        for cells in reader:
            if any(c.strip() for c in cells):
                yield reader.line_num, cells


def _header(path: str, cells: list[str]) -> list[str]:
    names = [c.strip() for c in cells]
    for i, name in enumerate(names):
        if not name:
            raise GradcliError(f"{path}: line 1: column {i + 1} has no name; name every column")
        if name in names[:i]:
            raise GradcliError(
                f"{path}: line 1: two columns are named {name!r} (columns {names.index(name) + 1}"
                f" and {i + 1}); give each column its own name"
            )
    return names


def _target_index(path: str, header: list[str], target: str | None) -> int:
    columns = ", ".join(header)
    if target is None:
        raise GradcliError(f"--data {path}: a table needs --target COLUMN; its columns: {columns}")
    if target in header:
        return header.index(target)
    near = difflib.get_close_matches(target, header, n=1, cutoff=0.6) or [
        h for h in header if h.lower() == target.lower()
    ]
    hint = f"did you mean {near[0]!r}? " if near else ""
    raise GradcliError(
        f"--target {target}: {path} has no such column; {hint}its columns: {columns}"
    )


def _number(path: str, line: int, column: str, cell: str) -> float:
    """The cell as a finite float, or a one-line error quoting it."""
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        what = "an empty cell" if not text else f"{text!r} is not a number"
        raise GradcliError(
            f"{path}: line {line}, column {column!r}: {what}; this column must hold numbers"
        ) from None
    if not math.isfinite(value):
        raise GradcliError(
            f"{path}: line {line}, column {column!r}: {text!r} is not a finite number; "
            "every cell must be finite (no nan or inf)"
        )
    return value


def _target(
    path: str, name: str, cells: list[tuple[int, str]], task: str | None
) -> tuple[torch.Tensor, str, int, tuple[str, ...], str]:
    """The target column as (y, task, outputs, labels, why this task)."""
    numbers = [_maybe_number(text) for _, text in cells]
    words = [(line, text) for (line, text), v in zip(cells, numbers, strict=True) if v is None]
    if words:
        # some numbers (then a word is a typo, not a class name), numbers asked for, or a
        # class left empty
        mixed = len(words) < len(cells) or task == REGRESSION
        bad = words if mixed else [(line, text) for line, text in words if not text]
        if bad:
            _number(path, bad[0][0], name, bad[0][1])  # raises, naming the cell
        distinct = sorted({text for _, text in cells})
        _not_single(path, name, distinct)
        index = {label: k for k, label in enumerate(distinct)}
        y = torch.tensor([index[text] for _, text in cells], dtype=torch.int64)
        reason = "asked for" if task else f"inferred: {len(distinct)} distinct words"
        return y, CLASSIFICATION, len(distinct), tuple(distinct), reason
    values = np.array(numbers, dtype=np.float64)
    for (line, text), v in zip(cells, values, strict=True):
        if not math.isfinite(v):
            _number(path, line, name, text)  # raises
    distinct_values = np.unique(values)
    _not_single(path, name, [_show(v) for v in distinct_values[:2]])
    integers = bool(np.all(distinct_values == np.round(distinct_values)))
    if task is None:
        k = len(distinct_values)
        if integers and k <= MAX_INFERRED_CLASSES:
            task, reason = CLASSIFICATION, f"inferred: {k} distinct integer values"
        elif integers:
            task = REGRESSION
            reason = f"inferred: {k} distinct integer values, more than {MAX_INFERRED_CLASSES}"
        else:
            task, reason = REGRESSION, "inferred: not every value is an integer"
    else:
        reason = "asked for"
    if task == REGRESSION:
        return torch.from_numpy(values.reshape(-1, 1)), REGRESSION, 1, (), reason
    if not integers:
        line, text = next(
            (ln, t) for (ln, t), v in zip(cells, values, strict=True) if v != round(v)
        )
        raise GradcliError(
            f"{path}: line {line}, column {name!r}: {text!r} is not an integer; a "
            "classification target holds integer classes or words (or --task regression)"
        )
    y = torch.from_numpy(np.searchsorted(distinct_values, values).astype(np.int64))
    labels = tuple(_show(v) for v in distinct_values)
    return y, CLASSIFICATION, len(distinct_values), labels, reason


def _maybe_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _show(value: float) -> str:
    """An integer class as the integer (``3``, not ``3.0``); any other value as Python's."""
    return str(int(value)) if value == round(value) else repr(float(value))


def _not_single(path: str, name: str, distinct: list[str]) -> None:
    if len(distinct) < 2:
        raise GradcliError(
            f"{path}: column {name!r} holds one value ({distinct[0]}) in every row; a target "
            "needs at least two"
        )
