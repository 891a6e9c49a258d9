"""Steady state: gradcli's training loop against the plain loop, in one process, start-up
left out.

Both run on one CPU thread, in this one process, after a warm-up run of each (so torch,
torch._dynamo and gradcli are imported, and the first optimizer built, before any timing):
``gradcli optim -m mlp -o adam --steps 2000 -f jsonl`` through gradcli's own command line
(Typer's app, called in-process, its output to /dev/null), and ``benchmarks/twins/train.py``'s
loop (the same model and Adam, a JSON line per step). They alternate ``--repeat`` times; the
times are CPU seconds of this process (``time.process_time``: on a shared machine, the time
spent waiting for a core is nobody's). Prints a JSON object for ``benchmarks/run.py``.

    python benchmarks/steady.py --repeat 5
    python benchmarks/steady.py --every 2000   # gradcli records and prints 2 steps of 2000
    python benchmarks/steady.py --twin script  # against the script --print-script writes

``--twin script`` puts in the twin's place the plain program ``gradcli optim ...
--print-script`` writes for the same run (made once, before any timing, and run with
``exec``): a loop by hand that prints the same JSON lines, byte for byte, with the same
statistics of every parameter, gradient and update (where the twin of ``train.py`` prints two
norms a parameter). It measures what gradcli's machinery costs beyond the numbers it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "twins"))
from train import run as twin

from gradcli.cli import app

ARGS = ["optim", "-m", "mlp", "-o", "adam", "--device", "cpu"]


def gradcli(steps: int, every: int | None) -> None:
    args = [*ARGS, "--steps", str(steps), "-f", "jsonl", "-q"]
    args += ["--every", str(every)] if every else []
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        app(args, standalone_mode=False)


def script(steps: int) -> Callable[[int], None]:
    """The script of ``gradcli optim ... --steps N`` as a function of N (its line
    ``steps = N`` replaced), compiled once."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        app([*ARGS, "--steps", str(steps), "--print-script"], standalone_mode=False)
    text = out.getvalue()
    line = f"\nsteps = {steps}\n"
    if line not in text:
        raise SystemExit(f"steady.py: the script has no line {line.strip()!r}")

    def run(n: int) -> None:
        code = compile(text.replace(line, f"\nsteps = {n}\n"), "script.py", "exec")
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            exec(code, {"__name__": "__main__"})

    return run


def plain(steps: int) -> None:
    with open(os.devnull, "w") as null:
        twin("mlp", "adam", steps, "cpu", null)


def seconds(run: Callable[[], None]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--every", type=int, help="gradcli's --every (default: every step)")
    parser.add_argument("--twin", choices=["train", "script"], default="train")
    args = parser.parse_args()
    torch.set_num_threads(1)
    twin_run = plain if args.twin == "train" else script(args.steps)
    gradcli(50, args.every)  # warm-up: imports, the first optimizer, the first kernels
    twin_run(50)
    ours, theirs = [], []
    for _ in range(args.repeat):
        ours.append(seconds(lambda: gradcli(args.steps, args.every)))
        theirs.append(seconds(lambda: twin_run(args.steps)))
    print(json.dumps({"command": ours, "baseline": theirs}))


if __name__ == "__main__":
    main()
