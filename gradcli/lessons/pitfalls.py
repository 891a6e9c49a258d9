"""``gradcli pitfalls``: classic mistakes run beside the correct code, on the same tensors.

Each pitfall is a function that really runs both versions and returns what happened, step by
step: parameter values, gradients, and the exceptions torch raises, caught and shown.

The two about evaluating a held-out set are in ``lessons.evaluation``; what every pitfall
returns is in ``lessons.outcome``. The one-line summaries live in
``gradcli.spec.PITFALL_SUMMARIES`` (no torch needed to list them).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from gradcli.lessons import accumulating, evaluation, mixed_precision
from gradcli.lessons.outcome import Cell, Outcome, Row, elements, error

LR = 0.1
START = (1.0, 2.0, 3.0)


def _w() -> Tensor:
    return torch.tensor(START, requires_grad=True)


W = "w = torch.tensor([1., 2., 3.], requires_grad=True)"
SGD_ON_W = f"{W}\noptimizer = torch.optim.SGD([w], lr={LR:g})"


def data_zero(steps: int = 3) -> Outcome:
    out = Outcome(
        "data-zero",
        "loss = w.mean(); loss.backward()\nw.data.zero_()\nw.data.sub_(lr * w.grad.data)",
        "loss = w.mean(); loss.backward()\nw.data.sub_(lr * w.grad.data)\nw.grad.data.zero_()",
        setup=f"{W}\nlr = {LR:g}",
    )
    wrong, right = _w(), _w()
    for step in range(1, steps + 1):
        wrong.mean().backward()
        wrong.data.zero_()
        wrong.data.sub_(LR * wrong.grad.data)
        right.mean().backward()
        grad_used = right.grad.detach().clone()
        right.data.sub_(LR * right.grad.data)
        right.grad.data.zero_()
        out.rows.append(Row(step, "w.grad used", elements(wrong.grad), elements(grad_used)))
        out.rows.append(Row(step, "w after", elements(wrong), elements(right)))
    collapsed = torch.equal(wrong.detach(), -LR * wrong.grad)
    out.lesson = (
        f"After the mistake w equals −lr·grad exactly ({collapsed}): the old weights are "
        "gone, and since the gradients are never zeroed they also pile up (1/3, 2/3, "
        "1, ...). The fix zeroes w.grad, not w."
    )
    return out


def no_zero_grad(steps: int = 3) -> Outcome:
    out = Outcome(
        "no-zero-grad",
        "loss = w.mean(); loss.backward()\noptimizer.step()",
        "optimizer.zero_grad()\nloss = w.mean(); loss.backward()\noptimizer.step()",
        setup=SGD_ON_W,
    )
    wrong, right = _w(), _w()
    wrong_opt, right_opt = torch.optim.SGD([wrong], lr=LR), torch.optim.SGD([right], lr=LR)
    for step in range(1, steps + 1):
        wrong.mean().backward()
        wrong_opt.step()
        right_opt.zero_grad()
        right.mean().backward()
        right_opt.step()
        out.rows.append(Row(step, "w.grad", elements(wrong.grad), elements(right.grad)))
        out.rows.append(Row(step, "w after", elements(wrong), elements(right)))
    ratio = (wrong.grad / right.grad).reshape(-1)[0].item()
    out.lesson = (
        f"backward() adds into .grad: after {steps} steps the gradient is {ratio:g}× "
        "the true one, and each step is that much too large."
    )
    return out


def inplace_leaf() -> Outcome:
    out = Outcome(
        "inplace-leaf",
        "w.mean().backward()\nw -= lr * w.grad",
        "w.mean().backward()\nwith torch.no_grad():\n    w -= lr * w.grad",
        setup=f"{W}\nlr = {LR:g}",
    )
    wrong, right = _w(), _w()
    wrong.mean().backward()
    try:
        wrong -= LR * wrong.grad
        result: Cell = elements(wrong)
    except RuntimeError as e:
        result = error(e)
    right.mean().backward()
    with torch.no_grad():
        right -= LR * right.grad
    out.rows.append(Row(1, "w after", result, elements(right)))
    out.rows.append(Row(1, "w.requires_grad", str(wrong.requires_grad), str(right.requires_grad)))
    out.lesson = (
        "An in-place change to a leaf would have to be recorded in the graph, so "
        "autograd forbids it; under torch.no_grad() nothing is recorded and the "
        "update is allowed (this is what optimizers do)."
    )
    return out


class _PlainWeight(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.tensor(START)  # a plain tensor attribute: not registered
        self.b = nn.Parameter(torch.tensor(0.0))

    def forward(self) -> Tensor:
        return (self.w + self.b).mean()


class _ParameterWeight(_PlainWeight):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(START))


def plain_tensor(steps: int = 3) -> Outcome:
    out = Outcome(
        "plain-tensor",
        "self.w = torch.tensor([1., 2., 3.])\nself.b = nn.Parameter(torch.tensor(0.))",
        "self.w = nn.Parameter(torch.tensor([1., 2., 3.]))\n"
        "self.b = nn.Parameter(torch.tensor(0.))",
        setup=f"optimizer = torch.optim.SGD(model.parameters(), lr={LR:g})\n"
        "def forward(self): return (self.w + self.b).mean()",
    )
    wrong, right = _PlainWeight(), _ParameterWeight()
    out.rows.append(
        Row(
            0,
            "parameters()",
            " ".join(n for n, _ in wrong.named_parameters()),
            " ".join(n for n, _ in right.named_parameters()),
        )
    )
    wrong_opt = torch.optim.SGD(wrong.parameters(), lr=LR)
    right_opt = torch.optim.SGD(right.parameters(), lr=LR)
    for step in range(1, steps + 1):
        for model, optimizer in ((wrong, wrong_opt), (right, right_opt)):
            optimizer.zero_grad()
            model().backward()
            optimizer.step()
        out.rows.append(Row(step, "w after", elements(wrong.w), elements(right.w)))
        out.rows.append(Row(step, "b after", elements(wrong.b), elements(right.b)))
    out.lesson = (
        f"The plain w never changed ({elements(wrong.w) == START}); it is not in "
        "parameters() nor state_dict(), so no optimizer trains it and no checkpoint "
        "saves it. nn.Parameter registers it."
    )
    return out


def set_to_none(steps: int = 2) -> Outcome:
    out = Outcome(
        "set-to-none",
        "optimizer.zero_grad()            # set_to_none=True\nw.grad.norm()",
        "optimizer.zero_grad(set_to_none=False)\nw.grad.norm()",
        labels=("zero_grad()", "zero_grad(set_to_none=False)"),
        setup=SGD_ON_W,
    )
    none, zeros = _w(), _w()
    none_opt, zeros_opt = torch.optim.SGD([none], lr=LR), torch.optim.SGD([zeros], lr=LR)
    for step in range(1, steps + 1):
        for w, optimizer in ((none, none_opt), (zeros, zeros_opt)):
            w.mean().backward()
            optimizer.step()
        none_opt.zero_grad()
        zeros_opt.zero_grad(set_to_none=False)
        out.rows.append(
            Row(step, "w.grad after zero_grad", elements(none.grad), elements(zeros.grad))
        )
        cells = []
        for w in (none, zeros):
            try:
                cells.append(elements(w.grad.norm()))
            except AttributeError as e:
                cells.append(error(e))
        out.rows.append(Row(step, "w.grad.norm()", cells[0], cells[1]))
    out.lesson = (
        "Code that reads p.grad after zero_grad() must check `p.grad is not None`. "
        "None saves memory and a kernel per step; the next backward() creates .grad "
        "afresh, so training gives the same numbers either way."
    )
    return out


def variable() -> Outcome:
    out = Outcome(
        "variable",
        "from torch.autograd import Variable\nw = Variable(torch.tensor([1., 2., 3.]), "
        "requires_grad=True)",
        "w = torch.tensor([1., 2., 3.], requires_grad=True)",
        labels=("Variable(...)", "plain tensor"),
    )
    old = torch.autograd.Variable(torch.tensor(START), requires_grad=True)
    new = torch.tensor(START, requires_grad=True)
    out.rows.append(
        Row(
            0,
            "type",
            f"{type(old).__module__}.{type(old).__name__}",
            f"{type(new).__module__}.{type(new).__name__}",
        )
    )
    out.rows.append(Row(0, "requires_grad", str(old.requires_grad), str(new.requires_grad)))
    old.mean().backward()
    new.mean().backward()
    out.rows.append(Row(1, "grad of mean()", elements(old.grad), elements(new.grad)))
    same = type(old) is type(new) and torch.equal(old.grad, new.grad)
    out.lesson = (
        f"Same type and same gradient ({same}): since torch 0.4 Variable(t) just returns "
        "a Tensor; write torch.tensor(..., requires_grad=True) or "
        "t.requires_grad_()."
    )
    return out


def scheduler_first(steps: int = 3) -> Outcome:
    out = Outcome(
        "scheduler-first",
        "scheduler.step()\noptimizer.zero_grad(); w.mean().backward()\noptimizer.step()",
        "optimizer.zero_grad(); w.mean().backward()\noptimizer.step()\nscheduler.step()",
        setup=f"{SGD_ON_W}\nscheduler = torch.optim.lr_scheduler.StepLR(optimizer, "
        "step_size=1, gamma=0.5)",
    )
    runs = []
    for _ in range(2):
        w = _w()
        optimizer = torch.optim.SGD([w], lr=LR)
        runs.append((w, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)))
    (wrong, wrong_opt, wrong_sched), (right, right_opt, right_sched) = runs
    warned: list[str] = []
    for step in range(1, steps + 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wrong_sched.step()  # the mistake: before the update
        warned += [str(w.message).split("`. ")[0] + "`" for w in caught]
        wrong_lr = wrong_opt.param_groups[0]["lr"]
        wrong_opt.zero_grad()
        wrong.mean().backward()
        wrong_opt.step()
        right_lr = right_opt.param_groups[0]["lr"]
        right_opt.zero_grad()
        right.mean().backward()
        right_opt.step()
        right_sched.step()
        out.rows.append(Row(step, "lr the update used", (wrong_lr,), (right_lr,)))
        out.rows.append(Row(step, "w after", elements(wrong), elements(right)))
    if warned:  # at the first step, where torch said it
        out.rows.insert(0, Row(1, "torch warned", f"UserWarning: {warned[0]}", "nothing"))
    out.lesson = (
        f"The mistake never trains at the first lr ({LR:g}): its first update already uses "
        f"{LR * 0.5:g}, and every later one is a step of the schedule early. "
        "scheduler.step() belongs after optimizer.step(); torch says so in its warning."
    )
    return out


def clip_after_step(max_norm: float = 1.0) -> Outcome:
    out = Outcome(
        "clip-after-step",
        "(w ** 2).sum().backward()\noptimizer.step()\nclip_grad_norm_([w], max_norm=1.0)",
        "(w ** 2).sum().backward()\nclip_grad_norm_([w], max_norm=1.0)\noptimizer.step()",
        setup=SGD_ON_W,
    )
    wrong, right = _w(), _w()
    wrong_opt, right_opt = torch.optim.SGD([wrong], lr=LR), torch.optim.SGD([right], lr=LR)
    (wrong**2).sum().backward()
    used_wrong = wrong.grad.detach().clone()  # type: ignore[union-attr]
    wrong_opt.step()
    torch.nn.utils.clip_grad_norm_([wrong], max_norm)  # too late: step() already used it
    (right**2).sum().backward()
    before = right.grad.detach().clone()  # type: ignore[union-attr]
    torch.nn.utils.clip_grad_norm_([right], max_norm)
    used_right = right.grad.detach().clone()  # type: ignore[union-attr]
    right_opt.step()
    out.rows.append(Row(1, "w.grad after backward", elements(before), elements(before)))
    out.rows.append(Row(1, "grad the update used", elements(used_wrong), elements(used_right)))
    out.rows.append(
        Row(
            1,
            "its norm",
            (float(used_wrong.norm()),),
            (float(used_right.norm()),),
        )
    )
    out.rows.append(Row(1, "w after", elements(wrong), elements(right)))
    out.lesson = (
        f"optimizer.step() read the gradient of norm {float(before.norm()):.4g} before the "
        f"mistake clipped it, so the step was {float(before.norm()) / max_norm:.3g}× what "
        f"max_norm={max_norm:g} allows; clipping after the step only changes a gradient "
        "nobody reads again. Clip between backward() and step()."
    )
    return out


PITFALL_RUNS: dict[str, Callable[[], Outcome]] = {
    "data-zero": data_zero,
    "no-zero-grad": no_zero_grad,
    "inplace-leaf": inplace_leaf,
    "plain-tensor": plain_tensor,
    "set-to-none": set_to_none,
    "variable": variable,
    "scheduler-first": scheduler_first,
    "clip-after-step": clip_after_step,
    "eval-mode": evaluation.eval_mode,
    "no-grad": evaluation.no_grad,
    "accumulate-no-divide": accumulating.accumulate_no_divide,
    "zero-grad-each-micro-batch": accumulating.zero_grad_each_micro_batch,
    "clip-before-unscale": mixed_precision.clip_before_unscale,
    "fp16-without-scaler": mixed_precision.fp16_without_scaler,
}
