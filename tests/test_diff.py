"""`gradcli diff A B`: cmp for training runs."""

from __future__ import annotations

import json
import os
import re
import struct
import threading
import zipfile
from pathlib import Path

import pytest
from helpers import jsonl

from gradcli.diff import compare_records, gap, same


def float32_after(x: float) -> float:
    """The next float32 above ``x`` (a float32 value)."""
    (raw,) = struct.unpack("<i", struct.pack("<f", x))
    return struct.unpack("<f", struct.pack("<i", raw + 1))[0]


def record(step: int, w: list[float], loss: float | None = 1.0, **extra) -> dict:
    return {
        "step": step,
        "loss": loss,
        **extra,
        "params": {"w": {"shape": [len(w)], "value": w, "grad": w, "update": w}},
    }


def write(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


@pytest.mark.slow
def test_two_identical_runs_are_exit_0(invoke, tmp_path):
    args = ["optim", "-m", "mlp", "-o", "adam", "--steps", "10", "-f", "jsonl"]
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_text(invoke(*args).stdout)
    b.write_text(invoke(*args).stdout)
    result = invoke("diff", str(a), str(b))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"gradcli diff: {a} and {b} agree bit for bit: 11 records\n"
    assert invoke("diff", str(a), str(b), "-q").stderr == ""


def test_manual_adam_and_fused_adam_part_at_a_step_and_parameter(invoke, tmp_path):
    manual = tmp_path / "manual.jsonl"
    fused = tmp_path / "fused.jsonl"
    manual.write_text(invoke("manual", "-o", "adam", "--steps", "30", "-f", "jsonl").stdout)
    fused.write_text(
        invoke("optim", "-o", "adam", "--impl", "fused", "--steps", "30", "-f", "jsonl").stdout
    )
    result = invoke("diff", str(manual), str(fused))
    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    found = re.fullmatch(
        rf"gradcli diff: {manual} and {fused} part at step (\d+), parameter "
        r"(linear\.weight|linear\.bias), (value|grad|update)\[\d\]:",
        lines[0],
    )
    assert found, lines[0]
    step = int(found.group(1))
    assert re.fullmatch(rf"  {manual}  -?\d\S*", lines[1]) and lines[2].startswith(f"  {fused}  ")
    assert re.fullmatch(r"  \|A − B\| \S+ \(\d+ float32 ULPs?\)", lines[3])
    assert lines[5].startswith("how the gap grows: ")
    steps = [int(line.split()[0]) for line in lines[8:]]
    assert steps[0] == step and steps[-1] == 30 and steps == sorted(steps)
    # the same, for machines: one object per record pair, identical until that step
    rows = jsonl(invoke("diff", str(manual), str(fused), "-f", "jsonl").stdout)
    assert [r["step"] for r in rows] == list(range(31))
    # (after it, float32 rounding may bring the two runs' records together again for a step:
    # how often depends on the CPU's kernels)
    identical = [r["identical"] for r in rows]
    assert identical[: step + 1] == [s < step for s in range(step + 1)]
    assert not all(identical[step:])
    assert rows[step]["first_at"].startswith(found.group(2))


def test_one_float32_ulp_and_the_sign_of_zero(tmp_path, invoke):
    a = write(tmp_path / "a.jsonl", [record(0, [1.0, 0.0]), record(1, [0.5, 0.0])])
    b = write(tmp_path / "b.jsonl", [record(0, [1.0, 0.0]), record(1, [float32_after(0.5), -0.0])])
    result = invoke("diff", a, b)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:4] == [
        f"gradcli diff: {a} and {b} part at step 1, parameter w, value[0]:",
        f"  {a}  0.5",
        f"  {b}  0.5000000596046448",
        "  |A − B| 5.96e-08 (1 float32 ULP)",
    ]
    (row,) = [r for r in jsonl(invoke("diff", a, b, "-f", "jsonl").stdout) if r["step"] == 1]
    assert row["differing"] == 6  # value, grad and update: [0] by an ULP, [1] by its sign
    assert row["max_ulps"] == 1


def test_a_field_only_one_run_has_and_float64_ulps():
    a = record(1, [0.1], lr=0.1)
    b = record(1, [0.1])
    result = compare_records(1, a, b)
    assert result.differing == 1 and result.first.where == "lr" and result.first.b == "absent"
    d = gap(1, ("loss",), 0.1, 0.1 + 2**-56)
    assert (d.ulps, d.ulp_kind) == (1, "float64")
    assert same(float("nan"), float("nan")) and not same(0.0, -0.0) and not same(1, True)


def test_runs_of_different_lengths_differ(invoke, tmp_path):
    a = write(tmp_path / "a.jsonl", [record(0, [1.0]), record(1, [2.0]), record(2, [3.0])])
    b = write(tmp_path / "b.jsonl", [record(0, [1.0]), record(1, [2.0])])
    result = invoke("diff", a, b)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"gradcli diff: {a} and {b} agree on every record they share (2)",
        f"  {b} ends at step 1; the other goes on to step 2",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["A", "BAD"], "bad.jsonl:2: not a gradcli record: not JSON"),
        (["A", "A", "-f", "csv"], "--format: unknown format 'csv'; choose one of: text, jsonl"),
        (["A", "nowhere.jsonl"], "nowhere.jsonl: cannot read it: no such file"),
        (["PT", "A"], "a.pt: not gradcli's JSON lines (-f jsonl): it is a zip archive (such"),
        (["A", "BYTES"], "bytes.jsonl:2: not gradcli's JSON lines (-f jsonl): not UTF-8 text"),
    ],
    ids=["not-json", "csv", "missing", "checkpoint", "not-utf8"],
)
def test_bad_input_is_exit_2(invoke, tmp_path, args, message):
    a = write(tmp_path / "a.jsonl", [record(0, [1.0])])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(record(0, [1.0])) + "\ngradcli: 1 step, loss 1 -> 1\n")
    with zipfile.ZipFile(tmp_path / "a.pt", "w") as archive:  # what torch.save writes
        archive.writestr("a/data.pkl", b"\x80\x02}q\x00.")
    not_utf8 = tmp_path / "bytes.jsonl"
    not_utf8.write_bytes(Path(a).read_bytes() + b"\xff\xfe\n")
    paths = {"A": a, "BAD": str(bad), "PT": str(tmp_path / "a.pt"), "BYTES": str(not_utf8)}
    result = invoke("diff", *[paths.get(x, x) for x in args])
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr


def test_a_run_read_from_a_pipe_as_the_shell_passes_it(invoke, tmp_path):
    """`gradcli diff <(gradcli manual ...) <(gradcli optim ...)`: the shell names a pipe
    (/dev/fd/63), which is no regular file; here a FIFO stands for it."""
    a = write(tmp_path / "a.jsonl", [record(0, [1.0]), record(1, [2.0])])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("w") as stream:
            stream.write(Path(a).read_text())

    writer = threading.Thread(target=feed)
    writer.start()
    result = invoke("diff", a, str(fifo))
    writer.join()
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"gradcli diff: {a} and {fifo} agree bit for bit: 2 records\n"
