"""The plain PyTorch loop a user would write instead of gradcli: the same problem, the same
optimizer, one JSON line per step with the loss and each parameter's values and gradient
(elements for small tensors, norms for large ones).

    python benchmarks/twins/train.py --model mlp --optimizer adam --steps 2000
"""

import argparse
import json
import sys

import torch

from gradcli import optimizers, problems

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="linear")
parser.add_argument("--optimizer", default="sgd")
parser.add_argument("--steps", type=int, default=100)
parser.add_argument("--device", default="cpu")
args = parser.parse_args()

model = problems.build(args.model, seed=0, dtype=torch.float32, device=torch.device(args.device))
lr = optimizers.default_lr(optimizers.find(args.optimizer), args.model, model)
optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[args.optimizer](
    model.parameters(), lr=lr
)
out = sys.stdout
for step in range(1, args.steps + 1):
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
