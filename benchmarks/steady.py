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
"""

from __future__ import annotations

import argparse
import contextlib
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


def gradcli(steps: int, every: int | None) -> None:
    args = ["optim", "-m", "mlp", "-o", "adam", "--steps", str(steps), "-f", "jsonl", "-q"]
    args += ["--device", "cpu", *(["--every", str(every)] if every else [])]
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        app(args, standalone_mode=False)


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
    args = parser.parse_args()
    torch.set_num_threads(1)
    gradcli(50, args.every)  # warm-up: imports, the first optimizer, the first kernels
    plain(50)
    ours, theirs = [], []
    for _ in range(args.repeat):
        ours.append(seconds(lambda: gradcli(args.steps, args.every)))
        theirs.append(seconds(lambda: plain(args.steps)))
    print(json.dumps({"command": ours, "baseline": theirs}))


if __name__ == "__main__":
    main()
