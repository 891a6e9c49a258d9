"""Peak resident memory (RSS) after each stage of one run: gradcli's engine or its twin.

Where `run.py` gives one peak per process, this says which stage brings the memory in:

    python benchmarks/rss_stages.py twin linear --device cuda
    python benchmarks/rss_stages.py optim linear --device cuda
    python benchmarks/rss_stages.py manual mlp

Each line: the stage, the peak RSS so far, seconds since start.
"""

from __future__ import annotations

import argparse
import resource
import time

START = time.perf_counter()
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("path", choices=["twin", "optim", "manual"])
parser.add_argument("model", nargs="?", default="linear")
parser.add_argument("--device", default="cpu")
parser.add_argument("--steps", type=int, default=100)
args = parser.parse_args()


def stage(name: str) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    elapsed = time.perf_counter() - START
    print(f"{args.path:<7}{args.model:<8}{name:<28}{peak:>6} MiB {elapsed:6.2f} s", flush=True)


import torch  # noqa: E402

stage("import torch")
device = torch.device(args.device)
torch.zeros(1, device=device)
stage("device ready")
from gradcli import optimizers, problems  # noqa: E402

if args.path == "twin":  # the loop of twins/train.py, SGD
    model = problems.build(args.model, seed=0, dtype=torch.float32, device=device)
    stage("problem built")
    lr = optimizers.default_lr(optimizers.find("sgd"), args.model, model)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    stage("optimizer built")
    for step in range(args.steps):
        optimizer.zero_grad()
        loss = model()
        loss.backward()
        optimizer.step()
        for p in model.parameters():
            assert p.grad is not None
            if p.numel() <= 8:
                p.tolist(), p.grad.tolist()
            else:
                p.norm().item(), p.grad.norm().item()
        loss.item()
        if step == 0:
            stage("first step")
else:
    from gradcli.spec import RunSpec, validate
    from gradcli.train.setup import prepare

    spec = validate(RunSpec(model=args.model, device=args.device, steps=args.steps))
    training, _ = prepare(spec, args.path)
    stage("problem and update built")
    records = iter(training)
    next(records)
    stage("step 0 recorded")
    next(records)
    stage("first step recorded")
    for _ in records:
        pass
stage(f"{args.steps} steps")
