"""`gradcli diff A B --ulps N / --rtol R / --atol A`: differences within a tolerance agree
(exit 0), beyond it they do not (exit 1), and the largest gap is named either way; ULPs are
counted in the records' dtype (gradcli/diff.py)."""

from __future__ import annotations

import json
import math
import struct

import pytest
from helpers import jsonl
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcli.diff import Tolerance, gap, record_dtype, ulps_between

finite64 = st.floats(allow_nan=False, allow_infinity=False)
finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)


def float32_steps(x: float, k: int) -> float:
    """The float32 number ``k`` float32 numbers above ``x`` (a float32 number), through zero
    (0.0 and -0.0 are one number), by the bit patterns: independent of ``ulps_between``."""
    (raw,) = struct.unpack("<i", struct.pack("<f", x))
    ordered = -(raw & 0x7FFFFFFF) if raw < 0 else raw
    ordered += k
    raw = ordered if ordered >= 0 else (-ordered) | -0x80000000
    return struct.unpack("<f", struct.pack("<i", raw))[0]


def to32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


@given(finite64, finite64)
def test_float64_ulps_are_symmetric_and_zero_only_for_the_same_number(x, y):
    d = ulps_between(x, y, "float64")
    assert d == ulps_between(y, x, "float64") >= 0
    assert (d == 0) == (x == y)  # 0.0 and -0.0 are the same number: 0 ULPs


@given(finite64)
def test_float64_neighbours_are_one_ulp_apart(x):
    after = math.nextafter(x, math.inf)
    assume(math.isfinite(after))
    assert ulps_between(x, after, "float64") == 1


@given(finite64, finite64, finite64)
def test_ulps_add_up_along_the_line(x, y, z):
    x, y, z = sorted([x, y, z])
    for dtype in ("float64", "float32"):
        parts = [ulps_between(x, y, dtype), ulps_between(y, z, dtype)]
        whole = ulps_between(x, z, dtype)
        if whole is not None:  # (None: beyond float32's range)
            assert whole == parts[0] + parts[1]


@given(finite32, st.integers(-300, 300))
def test_float32_ulps_count_the_float32_numbers_between(x, k):
    """Stepping k float32 numbers from x, through zero too, is k ULPs."""
    y = float32_steps(x, k)
    assume(math.isfinite(y))
    assert ulps_between(x, y, "float32") == abs(k)


@given(finite64, finite64)
def test_float32_ulps_round_each_number_to_float32_first(x, y):
    assume(abs(x) < 3e38 and abs(y) < 3e38)
    assert ulps_between(x, y, "float32") == ulps_between(to32(x), to32(y), "float32")
    assert ulps_between(x, y, "float32") <= ulps_between(x, y, "float64")


def test_beyond_float32s_range_the_ulps_are_float64s():
    d = gap(1, ("loss",), 1e39, math.nextafter(1e39, math.inf), "float32")
    assert (d.ulps, d.ulp_kind) == (1, "float64")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_runs_records_show_its_dtype(invoke, dtype):
    lines = invoke("optim", "-m", "mlp", "--steps", "2", "--dtype", dtype, "-f", "jsonl").stdout
    # (step 0 of a float64 run reads as float32: torch drew the parameters in float32, and
    # float32 numbers they are, so its ULPs are counted among them)
    assert [record_dtype(r) for r in jsonl(lines)] == ["float32", dtype, dtype]
    assert record_dtype({"epoch_end": 1, "step": 4, "train_loss": 0.1}) is None


def record(step: int, w: list[float], update: list[float] | None = None) -> dict:
    return {
        "step": step,
        "loss": 1.0,
        "params": {"w": {"shape": [len(w)], "value": w, "grad": w, "update": update or w}},
    }


def write(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def runs(tmp_path, b_values: list[float], a_values: list[float] | None = None) -> tuple[str, str]:
    """Two runs of two records that differ in step 1's values only."""
    a_values = a_values or [0.5, 2.0]
    a = write(tmp_path / "a.jsonl", [record(0, [1.0, 1.0]), record(1, a_values)])
    b = write(tmp_path / "b.jsonl", [record(0, [1.0, 1.0]), record(1, b_values)])
    return a, b


def test_within_the_ulps_is_exit_0_and_names_the_largest_gap(invoke, tmp_path):
    a, b = runs(tmp_path, [float32_steps(0.5, 3), float32_steps(2.0, -1)])
    result = invoke("diff", a, b, "--ulps", "3")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "gradcli diff: the largest gap (within --ulps 3):",
        "  step 1, parameter w, value[0]",
        "  |A − B| 1.79e-07 (3 float32 ULPs), relative 3.58e-07",
        f"gradcli diff: {a} and {b} agree within --ulps 3: 2 records, 1 of them not bit for bit",
    ]
    assert invoke("diff", a, b, "--ulps", "3", "-q").stderr == ""


def test_beyond_the_ulps_is_exit_1_from_the_first_number_beyond(invoke, tmp_path):
    a, b = runs(tmp_path, [float32_steps(0.5, 1), float32_steps(2.0, 5)])
    result = invoke("diff", a, b, "--ulps", "4")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:4] == [
        f"gradcli diff: {a} and {b} part beyond --ulps 4 at step 1, parameter w, value[1]:",
        f"  {a}  2.0",
        f"  {b}  {float32_steps(2.0, 5)!r}",
        "  |A − B| 1.19e-06 (5 float32 ULPs), relative 5.96e-07",
    ]
    assert result.stderr.splitlines() == [
        "gradcli diff: the largest gap (beyond --ulps 4):",
        "  step 1, parameter w, value[1]",
        "  |A − B| 1.19e-06 (5 float32 ULPs), relative 5.96e-07",
    ]
    assert invoke("diff", a, b, "--ulps", "5").exit_code == 0


def test_rtol_and_atol_as_numpy_isclose_with_b_the_reference(invoke, tmp_path):
    a, b = runs(tmp_path, [0.25, 2.0], a_values=[0.5, 2.0])  # |A − B| = 0.25 = |B|
    assert invoke("diff", a, b, "--rtol", "1").exit_code == 0  # 0.25 <= 1 * 0.25
    assert invoke("diff", a, b, "--rtol", "0.99").exit_code == 1
    assert invoke("diff", a, b, "--atol", "0.25").exit_code == 0
    assert invoke("diff", a, b, "--atol", "0.125", "--rtol", "0.5").exit_code == 0
    assert invoke("diff", a, b, "--atol", "0.125", "--rtol", "0.49").exit_code == 1
    # either tolerance suffices: far in ULPs, close in absolute terms
    assert invoke("diff", a, b, "--ulps", "1", "--atol", "0.3").exit_code == 0
    result = invoke("diff", a, b, "--rtol", "0.99")
    assert "beyond --rtol 0.99" in result.stdout.splitlines()[0]
    assert "relative 1" in result.stderr


def test_a_float32_runs_update_is_counted_in_float32_ulps(invoke, tmp_path):
    """An update (value after − before, in float64) of a float32 run is rounded to float32:
    two updates that differ only below float32's precision are 0 ULPs apart; in a float64
    run the same two are one ULP apart."""
    up, up_next = 0.1, math.nextafter(0.1, 1.0)
    for values, within in (([0.5, 2.0], True), ([0.1, 2.0], False)):  # float32 / float64
        a = write(tmp_path / "a.jsonl", [record(1, values, [up, 0.0])])
        b = write(tmp_path / "b.jsonl", [record(1, values, [up_next, 0.0])])
        result = invoke("diff", a, b, "--ulps", "0")
        assert result.exit_code == (0 if within else 1), result.stderr
        kind = "0 float32 ULPs" if within else "1 float64 ULP"
        assert f"|A − B| 1.39e-17 ({kind})" in result.stderr


def test_a_difference_that_is_no_gap_between_numbers_is_never_within(invoke, tmp_path):
    a = write(tmp_path / "a.jsonl", [record(1, [0.5, 2.0])])
    b = write(tmp_path / "b.jsonl", [{**record(1, [0.5, 2.0]), "loss": None}])
    result = invoke("diff", a, b, "--atol", "1e9")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "gradcli diff: the largest gap (beyond --atol 1e+09):",
        "  step 1, loss",
        "  A 1.0, B None",
    ]


def test_jsonl_says_whether_each_record_pair_is_within(invoke, tmp_path):
    a, b = runs(tmp_path, [float32_steps(0.5, 3), 2.0])
    rows = jsonl(invoke("diff", a, b, "--ulps", "2", "-f", "jsonl").stdout)
    assert [(r["identical"], r["within"]) for r in rows] == [(True, True), (False, False)]
    rows = jsonl(invoke("diff", a, b, "-f", "jsonl").stdout)
    assert "within" not in rows[0]  # no tolerance, no such key


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ulps", "-1"], "gradcli: error: --ulps -1: give a whole number of ULPs >= 0"),
        (["--ulps", "1.5"], "'1.5' is not an integer"),
        (["--rtol", "-0.1"], "gradcli: error: --rtol -0.1: give a finite number >= 0"),
        (["--atol", "inf"], "gradcli: error: --atol inf: give a finite number >= 0"),
        (["--atol", "nan"], "gradcli: error: --atol nan: give a finite number >= 0"),
    ],
)
def test_a_bad_tolerance_is_exit_2(invoke, tmp_path, args, message):
    a, b = runs(tmp_path, [0.5, 2.0])
    result = invoke("diff", a, b, *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr


def test_tolerance_words():
    assert str(Tolerance(ulps=4)) == "--ulps 4"
    assert str(Tolerance(rtol=1e-5, atol=1e-8)) == "--rtol 1e-05 --atol 1e-08"
    assert str(Tolerance(ulps=4, atol=1e-12)) == "--ulps 4 or --atol 1e-12"
