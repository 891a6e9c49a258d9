"""Numbers for machines: full precision, and non-finite values spelled out as strings.

JSON has no NaN or Infinity, so they are written as the strings "NaN", "Infinity" and
"-Infinity" (what JavaScript's and Python's parsers call them). Finite floats are written
with Python's shortest round-tripping repr, so parsing them back gives the same double.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # records imports torch; params, graph and optimizers lists must not
    from gradcli.records import Values

NONFINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def number(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else NONFINITE[x]


def json_values(v: Values | None) -> list[float] | dict[str, float] | None:
    """Elements as a list; statistics as {"norm", "mean", "min", "max"}; absent as None."""
    if v is None:
        return None
    if not isinstance(v, tuple):  # Stats
        return {"norm": v.norm, "mean": v.mean, "min": v.min, "max": v.max}
    return list(v)


def spell(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by its string."""
    if isinstance(obj, float):
        return number(obj)
    if isinstance(obj, dict):
        return {k: spell(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [spell(v) for v in obj]
    return obj


# what json.dumps(obj, separators=..., allow_nan=False, ensure_ascii=False) builds on every
# call, made once: 5 µs of the 40 µs a step's record took (the mlp problem's, 2,100 bytes)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def dumps(obj: Any) -> str:
    """Compact JSON; the rare object with a NaN or an infinity takes the slow path. JSON
    escapes control characters itself; format characters (a right-to-left override) and
    line separators, which it may keep raw, are escaped too (``\u202e``: the same string
    to a parser, and nothing hidden on a terminal)."""
    try:
        text = _ENCODER.encode(obj)
    except ValueError:
        text = _ENCODER.encode(spell(obj))
    if text.isascii() and "\x7f" not in text:  # (the common case: JSON escapes the other
        return text  # ASCII controls itself; isprintable() is 100 times slower on 2 kB)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _json_escape(c) for c in text)


def _json_escape(char: str) -> str:
    """``\\uXXXX``, a surrogate pair beyond the basic plane (as JSON spells it)."""
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
