"""The pitfalls of mixed precision with float16, each run beside the fix on the same tensors,
with torch's own ``GradScaler`` (``gradcli.train.loss_scaling`` is the loop done right):
clipping the scaled gradients, and float16 without a scaler, whose small gradients become 0.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from gradcli.lessons.outcome import Outcome, Row, elements

LR = 0.1
MAX_NORM = 1.0

CLIP_SETUP = (
    "w = torch.tensor([1., 2., 3.], requires_grad=True)\n"
    f"optimizer = torch.optim.SGD([w], lr={LR:g})\n"
    'scaler = torch.amp.GradScaler("cpu")  # scale S = 65536\n'
    "loss = (w ** 2).sum()"
)
CLIP_RIGHT = (
    "scaler.scale(loss).backward()\n"
    "scaler.unscale_(optimizer)\n"
    "clip_grad_norm_([w], max_norm=1.0)\n"
    "scaler.step(optimizer)\n"
    "scaler.update()"
)


def _clipped_step(unscale_first: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, float]:
    """One scaled step with clipping; the scaled gradient, the norm clipping saw, the
    gradient the update used, w after, and the scale."""
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=LR)
    scaler = torch.amp.GradScaler("cpu")
    scaler.scale((w**2).sum()).backward()
    assert w.grad is not None
    scaled = w.grad.detach().clone()
    if unscale_first:
        scaler.unscale_(optimizer)
    seen = torch.nn.utils.clip_grad_norm_([w], MAX_NORM)
    scale = scaler.get_scale()
    scaler.step(optimizer)  # (unscale_s the mistake's clipped gradients here)
    used = w.grad.detach().clone()
    scaler.update()
    return scaled, seen.detach(), used, w.detach(), scale


def clip_before_unscale() -> Outcome:
    out = Outcome(
        "clip-before-unscale",
        CLIP_RIGHT.replace("scaler.unscale_(optimizer)\n", ""),
        CLIP_RIGHT,
        setup=CLIP_SETUP,
    )
    scaled, seen_wrong, used_wrong, w_wrong, scale = _clipped_step(False)
    _, seen_right, used_right, w_right, _ = _clipped_step(True)
    norm_wrong, norm_right = float(used_wrong.norm()), float(used_right.norm())
    out.rows.append(Row(1, "w.grad after backward", elements(scaled), elements(scaled)))
    out.rows.append(Row(1, "norm clipping saw", elements(seen_wrong), elements(seen_right)))
    out.rows.append(Row(1, "grad the update used", elements(used_wrong), elements(used_right)))
    out.rows.append(Row(1, "its norm", (norm_wrong,), (norm_right,)))
    start = torch.tensor([1.0, 2.0, 3.0])
    out.rows.append(
        Row(1, "update (w after − before)", elements(w_wrong - start), elements(w_right - start))
    )
    out.lesson = (
        f"backward() of the scaled loss gives S·g (S = {scale:g}); clipping it cuts S·g to "
        f"max_norm={MAX_NORM:g}, and step() then divides by S: the update's gradient has "
        f"norm {norm_wrong:.4g} = max_norm/S, so the clip threshold in effect is "
        f"{MAX_NORM / scale:.4g}, {scale:g}× too small. scaler.unscale_(optimizer) before "
        "clipping makes it see g (step() then does not unscale again)."
    )
    return out


UNDERFLOW_SETUP = (
    "model = nn.Linear(4, 1, bias=False)  # weight [[1., 2., 3., 4.]], float32\n"
    f"optimizer = torch.optim.SGD(model.parameters(), lr={LR:g})\n"
    "x = torch.tensor([[1., 2**-4, 2**-8, 2**-12]])\n"
    "y = model(x).detach() - 2**-21  # near the optimum: a residual of 2⁻²¹\n"
    'scaler = torch.amp.GradScaler("cpu")  # S = 65536 (the fix\'s)'
)
UNDERFLOW_RIGHT = (
    'with autocast("cpu", torch.float16):\n'
    "    loss = F.mse_loss(model(x), y)\n"
    "scaler.scale(loss).backward()\n"
    "scaler.step(optimizer)\n"
    "scaler.update()"
)


def _model() -> tuple[nn.Linear, Tensor, Tensor]:
    model = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    x = torch.tensor([[1.0, 2**-4, 2**-8, 2**-12]])
    y = model(x).detach() - 2**-21
    return model, x, y


def _underflow_step(scaled: bool) -> Tensor:
    """One float16 step, with or without the scaler; the gradient the update used."""
    model, x, y = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scaler = torch.amp.GradScaler("cpu")
    with torch.autocast("cpu", dtype=torch.float16):
        loss = functional.mse_loss(model(x), y)
    if scaled:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # (as step() would: to read the gradient it uses)
    else:
        loss.backward()
    assert model.weight.grad is not None
    used = model.weight.grad.detach().clone()
    if scaled:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return used


def fp16_without_scaler() -> Outcome:
    out = Outcome(
        "fp16-without-scaler",
        UNDERFLOW_RIGHT.replace("scaler.scale(loss).backward()", "loss.backward()").replace(
            "scaler.step(optimizer)\nscaler.update()", "optimizer.step()"
        ),
        UNDERFLOW_RIGHT,
        setup=UNDERFLOW_SETUP,
    )
    model, x, y = _model()
    functional.mse_loss(model(x), y).backward()  # float32 throughout: the true gradient
    assert model.weight.grad is not None
    true = model.weight.grad.detach()
    wrong, right = _underflow_step(False), _underflow_step(True)
    zeros_wrong, zeros_right = int((wrong == 0).sum()), int((right == 0).sum())
    n = wrong.numel()
    out.rows.append(Row(1, "float32 grad (no autocast)", elements(true), elements(true)))
    out.rows.append(Row(1, "grad the update used", elements(wrong), elements(right)))
    out.rows.append(
        Row(1, "elements that became 0", f"{zeros_wrong} of {n}", f"{zeros_right} of {n}")
    )
    out.lesson = (
        "Under autocast the matmul runs in float16, and so does its backward, which rounds "
        f"every number below 2⁻²⁴ ≈ 6e-8 (float16's smallest) to 0: {zeros_wrong} of the "
        f"{n} gradient elements became 0, and SGD "
        "never moves those weights. Scaled by S = 65536 they are large enough for float16, "
        "and unscaled in float32 they are the float32 gradient (here exactly: "
        f"{torch.equal(right, true)})."
    )
    return out
