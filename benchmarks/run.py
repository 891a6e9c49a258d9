"""Time gradcli against the plain PyTorch loop a user would write by hand.

Each case runs two whole processes — gradcli and its hand-written twin (``twins/``) —
alternately, ``--repeat`` times each, and reports the median wall time of each, the median
ratio gradcli / twin (paired by repetition), and the peak resident memory of each.

    python benchmarks/run.py                  # every case, CPU
    python benchmarks/run.py --device cuda    # the same on a GPU
    python benchmarks/run.py --case c --repeat 3

Case s is the exception: ``benchmarks/steady.py`` times both loops in one process, start-up
left out, and reports CPU seconds (no memory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
GRADCLI = [PY, "-m", "gradcli"]
TWIN = [PY, str(ROOT / "benchmarks" / "twins" / "train.py")]
BIG = str(ROOT / "benchmarks" / "bigmlp.py") + ":build"
DATA_TWIN = [PY, str(ROOT / "benchmarks" / "twins" / "data.py")]
ACCUMULATE_TWIN = [PY, str(ROOT / "benchmarks" / "twins" / "accumulate.py")]
STEADY = [PY, str(ROOT / "benchmarks" / "steady.py")]


@dataclass
class Case:
    key: str
    title: str
    command: list[str]
    baseline: list[str]
    goal: float  # largest acceptable median ratio command / baseline
    memory_goal: float | None = 1.1
    in_process: bool = False  # ``command`` times both sides itself (steady.py)
    columns: int = 100  # the terminal's width both sides see (COLUMNS)


def accumulation_case(name: str, how: str, amp: str | None, dev: list[str]) -> Case:
    """``optim --data digits --model mlp --batch-size 40 --accumulate 4 --epochs 5`` (with
    ``--amp``) against the accumulation loop by hand (``twins/accumulate.py``, the same)."""
    precision = ["--amp", amp] if amp else []
    run = ["--batch-size", "40", "--accumulate", "4", *precision, "--epochs", "5"]
    title = (
        f"optim ... --accumulate 4 --epochs 5 --amp {amp}{how} vs the accumulation loop "
        + ("with torch.amp" if amp == "fp16" else "under torch.autocast")
        if amp
        else "optim --data digits --model mlp --batch-size 40 --accumulate 4 --epochs 5 vs the "
        "accumulation loop"
    )
    options = ["-o", "Adam(lr=0.01)", "-f", "jsonl", "-q", *dev]
    return Case(
        name,
        title,
        [*GRADCLI, "optim", "--data", "digits", "--model", "mlp", *run, *options],
        [*ACCUMULATE_TWIN, *run, *dev],
        1.1,
    )


def cases(device: str) -> list[Case]:
    dev = ["--device", device]
    help_twin = [PY, str(ROOT / "benchmarks" / "twins" / "help.py"), "--help"]
    return [
        Case(
            "a",
            "gradcli --help vs a 3-command Typer app",
            [*GRADCLI, "--help"],
            help_twin,
            1.3,
            None,
        ),
        Case(
            "a80",
            "gradcli --help at 80 columns vs a 3-command Typer app",
            [*GRADCLI, "--help"],
            help_twin,
            1.3,
            None,
            columns=80,
        ),
        Case(
            "a80o",
            "gradcli optim -h at 80 columns vs a 3-command Typer app's --help",
            [*GRADCLI, "optim", "-h"],
            help_twin,
            1.3,
            None,
            columns=80,
        ),
        Case(
            "b1",
            "optim --steps 100 (linear) vs plain loop",
            [*GRADCLI, "optim", "--steps", "100", "-f", "jsonl", "-q", *dev],
            [*TWIN, "--steps", "100", *dev],
            1.0,
        ),
        Case(
            "b2",
            "manual --steps 100 (linear) vs plain loop",
            [*GRADCLI, "manual", "--steps", "100", "-f", "jsonl", "-q", *dev],
            [*TWIN, "--steps", "100", *dev],
            1.0,
        ),
        Case(
            "c",
            "optim mlp adam 2000 steps vs plain loop",
            [
                *GRADCLI,
                "optim",
                "-m",
                "mlp",
                "-o",
                "adam",
                "--steps",
                "2000",
                "-f",
                "jsonl",
                "-q",
                *dev,
            ],
            [*TWIN, "--model", "mlp", "--optimizer", "adam", "--steps", "2000", *dev],
            1.0,
        ),
        Case(
            "d",
            "optim 1M-param MLP (20 tensors) sgd 100 steps vs plain loop",
            [*GRADCLI, "optim", "-m", BIG, "--steps", "100", "-f", "jsonl", "-q", *dev],
            [*TWIN, "--model", BIG, "--steps", "100", *dev],
            1.1,
        ),
        Case(
            "e",
            "optim --format table vs --format jsonl, 100 steps",
            [*GRADCLI, "optim", "--steps", "100", "-f", "table", "-q", *dev],
            [*GRADCLI, "optim", "--steps", "100", "-f", "jsonl", "-q", *dev],
            1.5,
            None,
        ),
        Case(
            "f",
            "manual vs optim, mlp adam 2000 steps",
            [
                *GRADCLI,
                "manual",
                "-m",
                "mlp",
                "-o",
                "adam",
                "--steps",
                "2000",
                "-f",
                "jsonl",
                "-q",
                *dev,
            ],
            [
                *GRADCLI,
                "optim",
                "-m",
                "mlp",
                "-o",
                "adam",
                "--steps",
                "2000",
                "-f",
                "jsonl",
                "-q",
                *dev,
            ],
            1.1,
            None,
        ),
        Case(
            "g",
            "optim --data digits --model mlp --batch-size 64 --epochs 5 vs the DataLoader loop",
            [
                *GRADCLI,
                "optim",
                "--data",
                "digits",
                "--model",
                "mlp",
                "--batch-size",
                "64",
                "--epochs",
                "5",
                "-o",
                "Adam(lr=0.01)",
                "-f",
                "jsonl",
                "-q",
                *dev,
            ],
            [*DATA_TWIN, "--epochs", "5", *dev],
            1.1,
        ),
        accumulation_case("k4", "", None, dev),
        accumulation_case("k4h", " (as k4, float16 and a GradScaler)", "fp16", dev),
        accumulation_case("k4b", " (as k4, the forward in bfloat16)", "bf16", dev),
        Case(
            "s",
            "steady state: optim mlp adam 2000 steps vs plain loop, 1 thread, in-process",
            STEADY,
            [],
            1.05,
            None,
            in_process=True,
        ),
        Case(
            "s2",
            "steady state as s, gradcli printing 2 of the 2000 steps (--every 2000)",
            [*STEADY, "--every", "2000"],
            [],
            1.05,
            None,
            in_process=True,
        ),
        Case(
            "s3",
            "steady state as s, against the script --print-script writes (the same JSON lines)",
            [*STEADY, "--twin", "script"],
            [],
            1.05,
            None,
            in_process=True,
        ),
    ][: None if device == "cpu" else -3]  # the steady state is a CPU's, one thread


def run_once(command: list[str], columns: int = 100) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one process, its output thrown away, in a terminal
    ``columns`` wide."""
    # Bytecode as a user has it: pip compiles it at install time, and the warm-up run writes
    # it here, also where the environment says not to (PYTHONDONTWRITEBYTECODE=1 on this
    # workplace's machines made every run compile all of gradcli's source: 0.2 s of case a).
    env = {
        **os.environ,
        "COLUMNS": str(columns),
        "PYTHONPATH": str(ROOT),
    }  # this checkout's gradcli
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(command)}\n{err}")
    return elapsed, usage.ru_maxrss


def in_process(case: Case, repeat: int) -> tuple[list[float], list[float]]:
    """The times ``case.command`` (steady.py) measured itself, both sides."""
    done = subprocess.run(
        [*case.command, "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(case.command)}\n{done.stderr}")
    times = json.loads(done.stdout.splitlines()[-1])
    return times["command"], times["baseline"]


def measure(case: Case, repeat: int, warmup: int) -> dict[str, object]:
    times_a: list[float] = []
    times_b: list[float] = []
    mem_a, mem_b = [0], [1]  # (no memory in-process: shown as 0)
    if case.in_process:
        times_a, times_b = in_process(case, repeat)
    for _ in range(0 if case.in_process else warmup):  # warm the page cache for each side
        run_once(case.command, case.columns)
        run_once(case.baseline, case.columns)
    for _ in range(0 if case.in_process else repeat):
        for command, times, mem in (
            (case.command, times_a, mem_a),
            (case.baseline, times_b, mem_b),
        ):
            seconds, rss = run_once(command, case.columns)
            times.append(seconds)
            mem.append(rss)
    ratio = statistics.median(a / b for a, b in zip(times_a, times_b, strict=True))
    memory = max(mem_a) / max(mem_b)
    ok = ratio <= case.goal and (case.memory_goal is None or memory <= case.memory_goal)
    return {
        "case": case.key,
        "title": case.title,
        "median_s": round(statistics.median(times_a), 3),
        "baseline_median_s": round(statistics.median(times_b), 3),
        "ratio": round(ratio, 3),
        "goal": case.goal,
        "peak_rss_mib": round(max(mem_a) / 1024, 1),
        "baseline_peak_rss_mib": round(max(mem_b) / 1024, 1),
        "memory_ratio": round(memory, 3),
        "memory_goal": case.memory_goal,
        "meets_goals": ok,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each side first")
    parser.add_argument(
        "--case", action="append", help="only these cases (a, a80, a80o, b1, ..., g, s, s2)"
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    # torch's version from a child: importing torch here would inflate every child's peak
    # RSS (ru_maxrss counts the forked copy of this process before exec).
    version = subprocess.run(
        [PY, "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    print(
        f"# {platform.node()} · {os.cpu_count()} cores · python {platform.python_version()}"
        f" · torch {version} · device {args.device} · "
        f"{time.strftime('%Y-%m-%d')}",
        flush=True,
    )
    print(
        f"{'case':<5}{'gradcli s':>10}{'twin s':>9}{'ratio':>7}{'goal':>6}"
        f"{'RSS MiB':>9}{'twin MiB':>9}{'mem':>6}  ok  what",
        flush=True,
    )
    results = []
    for case in cases(args.device):
        if args.case and case.key not in args.case:
            continue
        r = measure(case, args.repeat, args.warmup)

        results.append(r)
        print(
            f"{r['case']:<5}{r['median_s']:>10.3f}{r['baseline_median_s']:>9.3f}"
            f"{r['ratio']:>7.2f}{r['goal']:>6g}{r['peak_rss_mib']:>9.1f}"
            f"{r['baseline_peak_rss_mib']:>9.1f}{r['memory_ratio']:>6.2f}  "
            f"{'yes' if r['meets_goals'] else 'NO '} {r['title']}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
