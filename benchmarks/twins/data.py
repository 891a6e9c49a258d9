"""The mini-batch loop a user would write by hand for `gradcli optim --data digits --model
mlp --batch-size 64 --epochs 5 -o 'Adam(lr=0.01)'`: the same data (the same held-out split),
the same network and initial parameters, the same DataLoader (its own generator seeded
with 0), Adam, and at the end of each epoch the held-out loss and accuracy under
model.eval() and torch.no_grad(). One JSON line per step (the loss, each parameter's value
and gradient norms) and one per epoch.

    python benchmarks/twins/data.py --epochs 5
"""

import argparse
import json
import sys

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from gradcli.data import Request, load, models

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--device", default="cpu")
args = parser.parse_args()
device = torch.device(args.device)

data = load(Request("digits"))  # 20% held out, drawn with seed 0, as gradcli does
model = models.build("mlp", data, seed=0, dtype=torch.float32, device=device)
loader = DataLoader(
    TensorDataset(data.x_train.float(), data.y_train),
    batch_size=args.batch_size,
    shuffle=True,
    generator=torch.Generator().manual_seed(0),
)
x_val, y_val = data.x_val.float().to(device), data.y_val.to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
out = sys.stdout
step = 0
for epoch in range(1, args.epochs + 1):
    model.train()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        step += 1
        params = {
            name: {"value_norm": p.norm().item(), "grad_norm": p.grad.norm().item()}
            for name, p in model.named_parameters()
        }
        out.write(json.dumps({"step": step, "loss": loss.item(), "params": params}) + "\n")
    model.eval()
    with torch.no_grad():
        outputs = model(x_val)
        val_loss = F.cross_entropy(outputs, y_val).item()
        val_accuracy = (outputs.argmax(dim=1) == y_val).float().mean().item()
    out.write(json.dumps({"epoch": epoch, "val_loss": val_loss, "val_accuracy": val_accuracy}))
    out.write("\n")
