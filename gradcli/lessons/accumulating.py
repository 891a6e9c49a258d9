"""The pitfalls of gradient accumulation, each run beside the fix on the same tensors: four
micro-batches (the rows of ``X``) of the loss ``(x · w − y)² / 2`` before one SGD step, and
one batch of all four for reference (``gradcli.train.accumulation`` is the loop done right)."""

from __future__ import annotations

import torch
from torch import Tensor

from gradcli.lessons.outcome import Outcome, Row, elements

LR = 0.1
K = 4
SETUP = (
    "w = torch.tensor([1., 2., 3.], requires_grad=True)\n"
    f"optimizer = torch.optim.SGD([w], lr={LR:g})\n"
    "X = torch.tensor([[1., 0., 0.], [0., 1., 0.], [0., 0., 1.], [1., 1., 1.]])\n"
    "Y = torch.tensor([0., 1., 2., 3.])\n"
    "def loss_of(x, y): return ((x @ w - y) ** 2 / 2).mean()\n"
    "K = 4  # micro-batches an update, one row of X each"
)
RIGHT = (
    "optimizer.zero_grad()\n"
    "for x, y in zip(X, Y):\n"
    "    (loss_of(x, y) / K).backward()\n"
    "optimizer.step()"
)


def _data() -> tuple[Tensor, Tensor]:
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    return x, torch.tensor([0.0, 1.0, 2.0, 3.0])


def _loss(w: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return ((x @ w - y) ** 2 / 2).mean()


def _step(divide: bool, zero_each: bool) -> tuple[Tensor, Tensor]:
    """One update over the K micro-batches; the gradient it used and w after."""
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=LR)
    x, y = _data()
    optimizer.zero_grad()
    for x_k, y_k in zip(x, y, strict=True):
        if zero_each:
            optimizer.zero_grad()
        loss = _loss(w, x_k, y_k)
        (loss / K if divide else loss).backward()
    assert w.grad is not None
    used = w.grad.detach().clone()
    optimizer.step()
    return used, w.detach()


def _one_batch() -> Tensor:
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    _loss(w, *_data()).backward()
    assert w.grad is not None
    return w.grad


def accumulate_no_divide() -> Outcome:
    out = Outcome(
        "accumulate-no-divide",
        RIGHT.replace("(loss_of(x, y) / K)", "loss_of(x, y)"),
        RIGHT,
        setup=SETUP,
    )
    (wrong, w_wrong), (right, w_right) = _step(False, False), _step(True, False)
    one = _one_batch()
    out.rows.append(Row(1, "one batch of 4: grad", elements(one), elements(one)))
    out.rows.append(Row(1, "grad the update used", elements(wrong), elements(right)))
    out.rows.append(Row(1, "w after", elements(w_wrong), elements(w_right)))
    ratio = (wrong / right).reshape(-1)[0].item()
    out.lesson = (
        f"Without / K the micro-batches' gradients add up to {ratio:g}× the batch's (exactly "
        f"{torch.equal(wrong, K * right)}), so SGD steps as with lr {LR * ratio:g}: the "
        "effective learning rate grows K-fold. Divided by K, the sum is one batch's "
        f"gradient (here exactly: {torch.equal(right, one)})."
    )
    return out


def zero_grad_each_micro_batch() -> Outcome:
    out = Outcome(
        "zero-grad-each-micro-batch",
        RIGHT.replace("optimizer.zero_grad()\nfor", "for").replace(
            ":\n    (loss", ":\n    optimizer.zero_grad()\n    (loss"
        ),
        RIGHT,
        setup=SETUP,
    )
    (wrong, w_wrong), (right, w_right) = _step(True, True), _step(True, False)
    x, y = _data()
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (_loss(w, x[-1], y[-1]) / K).backward()
    assert w.grad is not None
    last = w.grad
    out.rows.append(Row(1, "last micro-batch / K: grad", elements(last), elements(last)))
    out.rows.append(Row(1, "grad the update used", elements(wrong), elements(right)))
    out.rows.append(Row(1, "w after", elements(w_wrong), elements(w_right)))
    out.lesson = (
        "zero_grad() inside the loop clears what the earlier micro-batches added: the update "
        f"uses the last micro-batch's gradient alone, / K (equal to it: "
        f"{torch.equal(wrong, last)}), not the {K} micro-batches' sum. Zero once per update, "
        "before the first micro-batch."
    )
    return out
