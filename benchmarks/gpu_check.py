"""Every gradcli training command on CUDA, end to end, in one process.

For a machine with a GPU: `bash benchmarks/gpu_check.sh`. Checks that each problem, dtype and
optimizer (with several hyperparameter settings) runs on `--device cuda`, that `manual` and
`optim --impl forloop` print byte-identical records (so bit-identical parameters) on the GPU,
also when a run diverges (both must stop at the same step), and that `auto` picks CUDA. Then
reports, without judging, how far torch's default on CUDA (foreach) drifts from the rules:
`gradcli compare`'s largest gap in ULPs. Exits 1 on any failure.
"""

from __future__ import annotations

import itertools
import json
import sys
import time

import torch
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.errors import Diverged
from gradcli.optimizers import catalog
from gradcli.spec import DTYPES, MODELS

SETTINGS = {
    "sgd": [
        [],
        ["--momentum", "0.9"],
        ["--momentum", "0.9", "--nesterov", "--weight-decay", "0.01"],
        ["--momentum", "0.5", "--dampening", "0.3", "--maximize", "--lr", "0.0001"],
    ],
    "adam": [[], ["--amsgrad", "--weight-decay", "0.01", "--beta1", "0.8"]],
    "adamw": [[], ["--amsgrad", "--weight-decay", "0.1"]],
    "rmsprop": [[], ["--centered", "--momentum", "0.9", "--alpha", "0.9"]],
    "adagrad": [[], ["--lr-decay", "0.01", "--weight-decay", "0.01"]],
}
STEPS = "50"
IMPLS = (["--impl", "forloop"], ["--impl", "foreach"], [])  # [] : torch's default, foreach


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: CUDA is not available here", file=sys.stderr)
        return 1
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
    runner = CliRunner()
    failures = 0

    def invoke(*args: str, allowed: tuple[int, ...] = (0,)) -> tuple[int, str]:
        nonlocal failures
        result = runner.invoke(app, list(args), env={"COLUMNS": "100"})
        if result.exit_code not in allowed:
            failures += 1
            print(f"FAIL exit {result.exit_code}: gradcli {' '.join(args)}\n{result.stderr}")
        return result.exit_code, result.stdout

    start = time.perf_counter()
    pairs = diverged = 0
    for model in MODELS:
        for dtype in DTYPES:
            for optimizer in catalog():
                impls = IMPLS if model == "mlp" else IMPLS[-1:]  # (keeps the check under 5 min)
                for extra, impl in itertools.product(SETTINGS.get(optimizer, [[]]), impls):
                    args = ["--device", "cuda", "-m", model, "--dtype", dtype, "-o", optimizer]
                    args += ["--steps", STEPS, "-f", "jsonl", *extra, *impl]
                    # exit 2: a problem this optimizer cannot train (sparse, 2-D only, ...),
                    # which both paths must refuse alike
                    allowed = (0, 2, Diverged.exit_code)
                    m_exit, manual = invoke("manual", *args, allowed=allowed)
                    o_exit, optim = invoke("optim", *args, allowed=allowed)
                    same = manual == optim and m_exit == o_exit
                    if m_exit == 2:
                        continue
                    pairs += 1
                    diverged += m_exit == Diverged.exit_code
                    if not same or not manual:
                        failures += 1
                        print(f"FAIL manual != optim: {' '.join(args)}")
    print(
        f"{'ok  ' if not failures else 'FAIL'} manual == optim (forloop, foreach and torch's "
        f"default), bit for bit, in {pairs - failures} of {pairs} runs ({diverged} of them "
        "diverge, at the same step on both paths)"
    )
    for model in ("mlp", "rosenbrock"):
        _, out = invoke("compare", "--device", "cuda", "-m", model, "--steps", "100", "-f", "jsonl")
        worst: dict[str, int] = {}
        for record in map(json.loads, out.splitlines()):
            name = record["optimizer"]
            worst[name] = max(worst.get(name, 0), record["max_ulps"] or 0)
        gaps = ", ".join(f"{name} {ulps}" for name, ulps in worst.items())
        print(f"info torch's default on CUDA vs the rules, {model}, 100 steps, max ULPs: {gaps}")
    _, table = invoke("optim", "--device", "auto", "--model", "mlp", "--steps", "10", "-f", "table")
    picked = "cuda" in table.splitlines()[0]
    failures += not picked
    print(f"{'ok  ' if picked else 'FAIL'} --device auto picks CUDA: {table.splitlines()[0]}")
    print(f"gpu_check: {failures} failures in {time.perf_counter() - start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
