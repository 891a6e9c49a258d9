"""The gradient-accumulation loop a user would write by hand for `gradcli optim --data
digits --model mlp --batch-size 40 --accumulate 4 --epochs 5 -o 'Adam(lr=0.01)'`: the same
data, network, initial parameters and DataLoader as ``data.py``, each of the K micro-batches'
losses divided by K and backpropagated, then one Adam step. One JSON line per update (the
loss, each micro-batch's loss, each parameter's value and gradient norms) and one per epoch.
With ``--amp fp16``: the forward under autocast in float16 and torch's GradScaler, as its
documentation writes the loop (``scaler.scale(loss / K).backward()``, ``unscale_``,
``step``, ``update``); each line also has the scale and whether the step was skipped.
With ``--amp bf16``: the forward under autocast in bfloat16, no scaler.

    python benchmarks/twins/accumulate.py --epochs 5 --accumulate 4 --batch-size 40
    python benchmarks/twins/accumulate.py --epochs 5 --accumulate 4 --amp fp16
"""

import argparse
import json
import sys

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from gradcli.data import Request, load, models

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=40)
parser.add_argument("--accumulate", type=int, default=4)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--device", default="cpu")
parser.add_argument("--amp", choices=["bf16", "fp16"], default=None)
args = parser.parse_args()
device = torch.device(args.device)
K = args.accumulate
fp16 = args.amp == "fp16"
amp_dtype = torch.bfloat16 if args.amp == "bf16" else torch.float16
scaler = torch.amp.GradScaler(device.type) if fp16 else None

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
    micro_losses = []
    for i, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        if i % K == 0:
            optimizer.zero_grad()
            micro_losses = []
        with torch.autocast(device.type, dtype=amp_dtype, enabled=args.amp is not None):
            loss = F.cross_entropy(model(x), y)
        (scaler.scale(loss / K) if scaler else loss / K).backward()
        micro_losses.append(loss.item())
        if i % K < K - 1:
            continue
        amp = {}
        if scaler:
            scaler.unscale_(optimizer)
            amp = {"scale": scaler.get_scale()}
            scaler.step(optimizer)
            scaler.update()
            amp["skipped"] = scaler.get_scale() < amp["scale"]
        else:
            optimizer.step()
        step += 1
        params = {
            name: {"value_norm": p.norm().item(), "grad_norm": p.grad.norm().item()}
            for name, p in model.named_parameters()
        }
        record = {
            "step": step,
            "loss": sum(micro_losses) / K,
            "micro_losses": micro_losses,
            **amp,
            "params": params,
        }
        out.write(json.dumps(record) + "\n")
    model.eval()
    with torch.no_grad():
        outputs = model(x_val)
        val_loss = F.cross_entropy(outputs, y_val).item()
        val_accuracy = (outputs.argmax(dim=1) == y_val).float().mean().item()
    out.write(json.dumps({"epoch": epoch, "val_loss": val_loss, "val_accuracy": val_accuracy}))
    out.write("\n")
