"""Every gradcli training command on CUDA, end to end, in one process.

For a machine with a GPU: `bash benchmarks/gpu_check.sh`. Checks that each command runs on
`--device cuda`, that `auto` picks CUDA, and that `manual` and `optim` print byte-identical
records (so bit-identical parameters) on the GPU. Exits 1 on any failure.
"""

from __future__ import annotations

import json
import sys
import time

import torch
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.spec import DTYPES, MODELS

SETTINGS = [
    [],
    ["--momentum", "0.9"],
    ["--momentum", "0.9", "--nesterov", "--weight-decay", "0.01"],
    ["--momentum", "0.5", "--dampening", "0.3", "--maximize", "--lr", "0.0001"],
]


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: CUDA is not available here", file=sys.stderr)
        return 1
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
    runner = CliRunner()
    failures = 0

    def invoke(*args: str) -> str:
        nonlocal failures
        result = runner.invoke(app, list(args), env={"COLUMNS": "100"})
        if result.exit_code != 0:
            failures += 1
            print(f"FAIL exit {result.exit_code}: gradcli {' '.join(args)}\n{result.stderr}")
        return result.stdout

    start = time.perf_counter()
    for model in MODELS:
        for dtype in DTYPES:
            for extra in SETTINGS:
                args = [
                    "--device",
                    "cuda",
                    "--model",
                    model,
                    "--dtype",
                    dtype,
                    "--steps",
                    "100",
                    "-f",
                    "jsonl",
                    *extra,
                ]
                manual, optim = invoke("manual", *args), invoke("optim", *args)
                lines = [json.loads(line) for line in manual.splitlines()]
                same = manual == optim and len(lines) == 101
                failures += not same
                print(
                    f"{'ok  ' if same else 'FAIL'} manual == optim, bit for bit: {model} "
                    f"{dtype} {' '.join(extra) or 'defaults'}"
                )
    table = invoke("optim", "--device", "auto", "--model", "mlp", "--steps", "10", "-f", "table")
    picked = "cuda" in table.splitlines()[0]
    failures += not picked
    print(f"{'ok  ' if picked else 'FAIL'} --device auto picks CUDA: {table.splitlines()[0]}")
    print(f"gpu_check: {failures} failures in {time.perf_counter() - start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
