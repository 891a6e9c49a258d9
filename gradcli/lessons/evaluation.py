"""The pitfalls of evaluating a held-out set, run on scikit-learn's digits (``gradcli.data``).

- ``eval-mode``: evaluating without ``model.eval()``. Dropout still drops, and batch norm
  normalises with the held-out batch's own statistics and updates its running ones: the same
  model on the same data gives a new loss each time, evaluating changes the model, and one
  sample alone cannot be predicted.
- ``no-grad``: evaluating without ``torch.no_grad()``. The numbers are the same, but autograd
  saves the forward's tensors for a backward that evaluation never needs; and if that
  backward comes by accident, the held-out gradient lands in ``.grad`` and the next update
  trains on the held-out set.

Both first train the same small network a few seeded steps (plain SGD by hand: ``p -= lr *
p.grad``, what ``torch.optim.SGD`` without momentum does), then run the mistake and the fix
on two copies of it. Every number shown is measured as it runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gradcli._startup.threads import suit
from gradcli.data import Request, load
from gradcli.lessons.outcome import Cell, Outcome, Row, elements, error

HIDDEN = 32
BATCH = 64
STEPS = 40
LR = 0.3
SEED = 0
NORM = 2  # the batch norm's place in the network: model[2]
SHOWN = 2  # running_mean[:2]

SETUP = f"""\
data = gradcli.data.load(Request("digits"))  # 20% of the 8×8 digits held out
x_val, y_val = data.x_val.float(), data.y_val
torch.manual_seed({SEED})
model = nn.Sequential(nn.Flatten(), nn.Linear(64, {HIDDEN}), nn.BatchNorm1d({HIDDEN}),
                      nn.ReLU(), nn.Dropout(0.5), nn.Linear({HIDDEN}, 10))
# trained {STEPS} steps: shuffled batches of {BATCH}, F.cross_entropy, SGD lr={LR:g}"""
STEP_ORDER = "# each step: loss.backward(); optimizer.step(); optimizer.zero_grad()"


@dataclass(frozen=True)
class Digits:
    """The digits as the network takes them: float32 inputs, int64 labels."""

    x: Tensor
    y: Tensor
    x_val: Tensor
    y_val: Tensor


def digits() -> Digits:
    data = load(Request("digits"))
    if data.x_val is None or data.y_val is None:  # the default split holds 20% out
        raise AssertionError("the digits have no held-out part")
    return Digits(data.x_train.float(), data.y_train, data.x_val.float(), data.y_val)


def network() -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, HIDDEN),
        nn.BatchNorm1d(HIDDEN),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(HIDDEN, 10),
    )


def update(model: nn.Module) -> None:
    """``optimizer.step(); optimizer.zero_grad()`` of SGD without momentum, by hand (the
    same arithmetic; torch.optim's first use imports torch._dynamo, seconds)."""
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.add_(p.grad, alpha=-LR)
            p.grad = None


def trained(d: Digits) -> nn.Sequential:
    """The network after ``STEPS`` steps on shuffled batches (global generator seeded: the
    parameters and dropout's masks; the batches from their own)."""
    torch.manual_seed(SEED)
    model = network()
    suit(model, torch.device("cpu"))
    shuffle = torch.Generator().manual_seed(SEED)
    per_epoch = len(d.x) // BATCH
    order = torch.randperm(len(d.x), generator=shuffle)
    for step in range(STEPS):
        if step and step % per_epoch == 0:
            order = torch.randperm(len(d.x), generator=shuffle)
        batch = order[(step % per_epoch) * BATCH :][:BATCH]
        F.cross_entropy(model(d.x[batch]), d.y[batch]).backward()
        update(model)
    return model


def evaluated(model: nn.Module, d: Digits) -> tuple[float, float]:
    """The held-out loss and accuracy, under no_grad, in whatever mode the model is in."""
    with torch.no_grad():
        out = model(d.x_val)
        loss = F.cross_entropy(out, d.y_val)
    return loss.item(), (out.argmax(dim=1) == d.y_val).double().mean().item()


def running_mean(model: nn.Sequential) -> Tensor:
    norm = model[NORM]
    assert isinstance(norm, nn.BatchNorm1d) and norm.running_mean is not None
    return norm.running_mean.clone()


def tracked(model: nn.Sequential) -> int:
    norm = model[NORM]
    assert isinstance(norm, nn.BatchNorm1d) and norm.num_batches_tracked is not None
    return int(norm.num_batches_tracked)


def predicted(model: nn.Module, x: Tensor) -> Cell:
    """The class predicted for ``x`` (one sample), or the error torch raises."""
    try:
        with torch.no_grad():
            return f"class {int(model(x).argmax())}"
    except ValueError as e:
        return error(e)


def eval_mode() -> Outcome:
    out = Outcome(
        "eval-mode",
        "with torch.no_grad():\n    out = model(x_val)\nloss = F.cross_entropy(out, y_val)",
        "model.eval()\nwith torch.no_grad():\n    out = model(x_val)\n"
        "loss = F.cross_entropy(out, y_val)",
        setup=SETUP,
    )
    d = digits()
    wrong = trained(d)
    right = copy.deepcopy(wrong).eval()
    mean = f"model[{NORM}].running_mean[:{SHOWN}]"
    before = running_mean(wrong)
    out.rows.append(Row(0, mean, elements(before[:SHOWN]), elements(before[:SHOWN])))
    tracked_before = tracked(wrong)
    losses = []
    for step in (1, 2):
        (wrong_loss, wrong_accuracy), (right_loss, right_accuracy) = (
            evaluated(wrong, d),
            evaluated(right, d),
        )
        losses.append(wrong_loss)
        out.rows.append(Row(step, "val loss", (wrong_loss,), (right_loss,)))
        out.rows.append(Row(step, "val accuracy", (wrong_accuracy,), (right_accuracy,)))
        out.rows.append(
            Row(
                step,
                mean,
                elements(running_mean(wrong)[:SHOWN]),
                elements(running_mean(right)[:SHOWN]),
            )
        )
    moved = float((running_mean(wrong) - before).abs().max())
    tracked_after = tracked(wrong)  # (before the next row: a failing forward counts too)
    one = d.x_val[:1]
    out.rows.append(Row(3, "model(x_val[:1])", predicted(wrong, one), predicted(right, one)))
    out.lesson = (
        f"In train mode the same model on the same data gave two losses ({losses[0]:.4g}, "
        f"{losses[1]:.4g}): dropout zeroed a fresh random half of the hidden units each time, and "
        "batch norm normalised with the held-out batch's own statistics and folded them into "
        f"its running ones (running_mean moved by up to {moved:.3g}; num_batches_tracked "
        f"{tracked_before} → {tracked_after}): evaluating changed the model. Alone, one "
        "sample has no batch statistics, so it cannot be predicted at all. model.eval() "
        "gives one answer and touches nothing; model.train() before training again."
    )
    return out


def saved_by(model: nn.Module, d: Digits) -> tuple[Tensor, list[Tensor]]:
    """The held-out loss, and the tensors autograd saved for its backward while computing
    it (``saved_tensors_hooks``: each tensor autograd keeps passes through ``pack``)."""
    saved: list[Tensor] = []

    def pack(t: Tensor) -> Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(d.x_val), d.y_val)
    return loss, saved


def activation_bytes(saved: list[Tensor], model: nn.Module, d: Digits) -> int:
    """The bytes of the saved tensors that exist only because the graph keeps them: each
    storage once, leaving out the model's own tensors and the data, which live anyway."""
    owned = [*model.parameters(), *model.buffers(), d.x_val, d.y_val]
    live = {t.untyped_storage().data_ptr() for t in owned}
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in saved}
    return sum(size for pointer, size in storages.items() if pointer not in live)


def grad_norm(model: nn.Module) -> Cell:
    """The norm of every parameter's ``.grad`` together, or "None" when none has one."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return "None"
    return (float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]))),)


def grads(model: nn.Module) -> Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


def no_grad() -> Outcome:
    out = Outcome(
        "no-grad",
        "model.eval()\nout = model(x_val)\nloss = F.cross_entropy(out, y_val)\n"
        "loss.backward()  # by accident",
        "model.eval()\nwith torch.no_grad():\n    out = model(x_val)\n"
        "    loss = F.cross_entropy(out, y_val)\nloss.backward()  # by accident",
        setup=f"{SETUP}\n{STEP_ORDER}",
    )
    d = digits()
    wrong = trained(d).eval()
    right = copy.deepcopy(wrong)
    wrong_loss, wrong_saved = saved_by(wrong, d)
    with torch.no_grad():
        right_loss, right_saved = saved_by(right, d)
    kept = activation_bytes(wrong_saved, wrong, d)
    weights = sum(p.numel() * p.element_size() for p in wrong.parameters())
    out.rows += [
        Row(1, "loss", (wrong_loss.item(),), (right_loss.item(),)),
        Row(
            1,
            "loss.grad_fn",
            type(wrong_loss.grad_fn).__name__ if wrong_loss.grad_fn else "None",
            type(right_loss.grad_fn).__name__ if right_loss.grad_fn else "None",
        ),
        Row(1, "tensors saved for backward", (len(wrong_saved),), (len(right_saved),)),
        Row(1, "bytes of activations kept", (kept,), (activation_bytes(right_saved, right, d),)),
        Row(1, "|grad| after evaluating", grad_norm(wrong), grad_norm(right)),
    ]
    wrong_loss.backward()
    leaked = grad_norm(wrong)
    try:
        right_loss.backward()
        refused = grad_norm(right)
    except RuntimeError as e:
        refused = error(e)
    out.rows.append(Row(2, "|grad| after loss.backward()", leaked, refused))
    xb, yb = d.x[:BATCH], d.y[:BATCH]
    masks = torch.get_rng_state()
    for model in (wrong, right):  # the next training step: the same batch, dropout masks
        torch.set_rng_state(masks)
        model.train()
        F.cross_entropy(model(xb), yb).backward()
    excess = float(torch.linalg.vector_norm(grads(wrong) - grads(right)))
    out.rows.append(Row(3, "|grad| the next step uses", grad_norm(wrong), grad_norm(right)))
    out.rows.append(Row(3, "|grad − the batch's grad|", (excess,), (0.0,)))
    same = wrong_loss.item() == right_loss.item()
    out.lesson = (
        f"The loss is the same ({same}), but without no_grad autograd saved "
        f"{len(wrong_saved)} tensors for a backward() that evaluating never needs: "
        f"{kept:,} bytes of activations ({kept / weights:.1f}× the model's parameters), "
        "held as long as the loss lives (a loop that adds up batch losses keeps every "
        "batch's). The accidental backward() then put the held-out gradient in .grad, and "
        f"the next step adds its batch's to it: the update is off by {excess:.4g}, trained "
        "on the data meant to judge the model. Under torch.no_grad() nothing is saved and "
        "that backward() is an error."
    )
    return out
