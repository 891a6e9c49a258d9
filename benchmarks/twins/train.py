"""The plain PyTorch loop a user would write instead of gradcli: the same problem, the same
optimizer, one JSON line per step with the loss and each parameter's values and gradient
(elements for small tensors, norms for large ones).

    python benchmarks/twins/train.py --model mlp --optimizer adam --steps 2000

``run()`` is the loop itself, which ``benchmarks/steady.py`` times in-process.
"""

import argparse
import json
import sys
from typing import TextIO

import torch

from gradcli import optimizers, problems


def run(model_name: str, optimizer_name: str, steps: int, device: str, out: TextIO) -> None:
    model = problems.build(model_name, seed=0, dtype=torch.float32, device=torch.device(device))
    lr = optimizers.default_lr(optimizers.find(optimizer_name), model_name, model)
    optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer_name](
        model.parameters(), lr=lr
    )
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = model()
        loss.backward()
        optimizer.step()
        params = {}
        for name, p in model.named_parameters():
            if p.numel() <= 8:
                params[name] = {"value": p.tolist(), "grad": p.grad.tolist()}
            else:
                params[name] = {"value_norm": p.norm().item(), "grad_norm": p.grad.norm().item()}
        out.write(json.dumps({"step": step, "loss": loss.item(), "params": params}) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="linear")
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    run(args.model, args.optimizer, args.steps, args.device, sys.stdout)
