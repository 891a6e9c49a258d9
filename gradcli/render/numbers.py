"""Numbers for machines: full precision, and non-finite values spelled out as strings.

JSON has no NaN or Infinity, so they are written as the strings "NaN", "Infinity" and
"-Infinity" (what JavaScript's and Python's parsers call them). Finite floats are written
with Python's shortest round-tripping repr, so parsing them back gives the same double.
"""

from __future__ import annotations

import math

from gradcli.records import Stats, Values

NONFINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def number(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else NONFINITE[x]


def values(v: Values | None) -> list[float | str] | dict[str, float | str] | None:
    """Elements as a list; statistics as {"norm", "mean", "min", "max"}; absent as None."""
    if v is None:
        return None
    if isinstance(v, Stats):
        return {
            "norm": number(v.norm),
            "mean": number(v.mean),
            "min": number(v.min),
            "max": number(v.max),
        }
    return [number(x) for x in v]
