"""Machine formats for commands whose data is a list of flat rows (params, graph, pitfalls).

JSON lines: one object per row. CSV/TSV: a header of the row's keys, then one line per row;
a list becomes its items separated by ``;`` and a ``shape`` is written ``16x2`` (empty for a
scalar), as in the training commands' CSV; None an empty cell, a bool ``true``/``false``, a float
its full-precision repr.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from gradcli.printable import printable
from gradcli.render.numbers import dumps

# between a list's items in one cell: no spaces, for column -t and awk (CSV and TSV alike)
SEPARATOR = ";"


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return SEPARATOR.join(_field(v) for v in value)
    return str(value)


def write_rows(
    out: TextIO, fmt: str, rows: Iterable[dict[str, Any]], header: Sequence[str]
) -> None:
    """Write ``rows`` (all with the keys ``header``) as jsonl, csv or tsv, each as it comes."""
    if fmt == "jsonl":
        for row in rows:
            out.write(dumps(row) + "\n")

    else:
        writer = csv.writer(out, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(
                [
                    "x".join(map(str, row[key]))
                    if key == "shape" and row[key] is not None
                    else printable(_field(row[key]))
                    for key in header
                ]
            )
    out.flush()
