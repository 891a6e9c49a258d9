"""A step's forward and backward passes as a script writes them: the loss computed and
backpropagated, its forward under ``torch.autocast`` with ``--amp``, and with ``--accumulate
K`` over the update's K micro-batches, each one's loss divided by K (the loop of
``gradcli/train/accumulation.py``), with what gradcli's records add for them: each
micro-batch's loss, the norm of what its backward added, and how far the accumulated
gradient is from one batch's (``gap_in_ulps``, whose helpers ``source.gather`` writes out
from gradcli's own code).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from gradcli.script.literals import LINE_LENGTH
from gradcli.train.accumulation import _copy, _norm_of_added, ulps_apart
from gradcli.train.precision import AMP_DTYPES


@dataclass(frozen=True)
class Micro:
    """Where an update's K micro-batches come from: the ``loop`` header over them, the
    ``select`` lines that put one where the forward reads it, the lines ``after`` the loop,
    the lines ``counted`` after each one's forward (``--data``: the epoch's sums), and the
    lines that compute ``one_batch``, the K together as one batch's loss (``equal``: the
    test that they are equal in size, where they may not be), and the ``setup`` lines
    that make them; ``logged``: whether the step's log shows what they did (each one's loss
    and the norm of what its backward added, the one batch's gap: compare's shows none)."""

    k: int
    loop: str
    select: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    counted: tuple[str, ...] = ()
    one_batch: tuple[str, ...] = ("return model()",)
    equal: str | None = None
    setup: tuple[str, ...] = ()
    logged: bool = True


@dataclass(frozen=True)
class Forward:
    """How a step computes its loss: the ``lines`` that set ``loss`` (and what they compute
    it on, for the comment above them), the expression a closure evaluates again (LBFGS),
    and ``depth``, the indentation of the loop's body (one loop over the steps; with
    ``--data``, one over the epochs and one over their batches); ``autocast``, the context
    the forward runs under (``--amp``); ``micro``, the micro-batches (``--accumulate``)."""

    lines: tuple[str, ...] = ("loss = model()",)
    on: str = "at the current parameters"
    again: str = "model()"
    depth: int = 4
    autocast: str | None = None
    micro: Micro | None = None


CLOSED = Forward()  # a problem whose forward() is the loss


def autocast(amp: str | None, device: torch.device) -> str | None:
    """The ``torch.autocast(...)`` the forward runs under with ``--amp`` (gradcli's
    ``gradcli.train.precision.autocast``). (fp16 adds a gradient scaler around the backward
    and the update: ``backward`` below, and ``loops.py``.)"""
    if amp is None:
        return None
    dtype = str(AMP_DTYPES[amp]).removeprefix("torch.")
    return f'torch.autocast(device_type="{device.type}", dtype=torch.{dtype})'


def under(context: str | None, lines: list[str] | tuple[str, ...]) -> list[str]:
    """``lines`` in a ``with context:`` block (as they are without one)."""
    if context is None:
        return list(lines)
    return [f"with {context}:", *("    " + line for line in lines)]


def _renamed(lines: tuple[str, ...], name: str) -> list[str]:
    """The forward's lines setting ``name`` instead of ``loss``."""
    *rest, last = lines
    assert last.startswith("loss = "), last
    return [*rest, f"{name} = " + last.removeprefix("loss = ")]


def backward(loss: str, amp: str | None) -> str:
    """The backward of ``loss`` (an expression): with --amp fp16, of ``loss·S``
    (``scaler.scale``), the gradient scaler's."""
    return f"scaler.scale({loss}).backward()" if amp == "fp16" else f"({loss}).backward()"


def passes(forward: Forward, first: int, amp: str | None) -> list[str]:
    """The lines of the phases forward (numbered ``first``) and backward: plain, under
    autocast, or over the micro-batches (with --amp fp16 the backward of the scaled loss)."""
    amp_note = (
        ""
        if forward.autocast is None
        else f", its forward under torch.autocast (--amp {amp}: matrix products in lower "
        "precision; the parameters and their gradients stay in their own dtype)"
    )
    micro = forward.micro
    if micro is None:
        return [
            *_comment(f"{first}. forward: the loss {forward.on}{amp_note}", forward.depth),
            *under(forward.autocast, forward.lines),
            *_comment(f"{first + 1}. backward: {_BACKWARD[amp == 'fp16']}", forward.depth),
            "scaler.scale(loss).backward()" if amp == "fp16" else "loss.backward()",
        ]
    k = micro.k
    heading = (
        f"{first}-{first + 1}. forward and backward on each of the {k} micro-batches "
        f"(--accumulate {k}), the loss {forward.on}: divided by {k}, so that p.grad, which "
        f"adds up, holds the gradient of their mean{amp_note}"
    )

    def logged(*lines: str) -> list[str]:  # (what the log shows of them, where it does)
        return list(lines) if micro.logged else []

    return [
        *_comment(heading, forward.depth),
        *logged("micro_losses, micro_grad_norms = [], []  # (for the log)"),
        "loss = None",
        micro.loop,
        *("    " + line for line in micro.select),
        *logged(
            "    added = [_copy(p.grad) for p in params]  # (for the log: what this backward adds)"
        ),
        *("    " + line for line in under(forward.autocast, _renamed(forward.lines, "micro_loss"))),
        f"    {backward(f'micro_loss / {k}', amp)}",
        f"    share = micro_loss.detach() / {k}",
        "    loss = share if loss is None else loss + share  # their mean, added in order",
        *logged(
            "    micro_losses.append(micro_loss.item())",
            "    micro_grad_norms.append(_norm_of_added(params, added).item())",
        ),
        *("    " + line for line in micro.counted),
        *micro.after,
        *logged(
            "# (for the log) how far the accumulated gradient is from one batch's of the "
            f"{k} together",
            f"one_batch_ulps = {_gap_call(micro)}",
        ),
    ]


_BACKWARD = (
    "autograd puts the gradient of the loss into each p.grad",
    "autograd puts the gradient of scaler.scale(loss) = loss·S into each p.grad: S·g, "
    "which float16's backward does not round to 0 where g is small (--amp fp16)",
)


def _comment(text: str, depth: int) -> list[str]:
    """``text`` as comment lines that fit at ``depth`` spaces."""
    return textwrap.wrap(
        text,
        width=LINE_LENGTH - depth,
        initial_indent="# ",
        subsequent_indent="#    ",
        break_on_hyphens=False,
    )


def _gap_call(micro: Micro) -> str:
    """The call of ``gap_in_ulps`` (None where the micro-batches differ in size: their mean
    of means is not one batch's mean)."""
    return "gap_in_ulps()" if micro.equal is None else f"gap_in_ulps() if {micro.equal} else None"


def gap_function(
    forward: Forward, device: torch.device, buffers: bool, scaled: bool = False
) -> list[str]:
    """``def gap_in_ulps()``: gradcli's ``gap_in_ulps`` at the parameters the
    update starts from, in the script's words (``buffers``: restore the model's buffers, as
    batch norm's running statistics, after the one batch; ``scaled``: --amp fp16, where
    p.grad holds S·g, and so does the one batch's gradient)."""
    micro = forward.micro
    assert micro is not None
    devices = f"[{device.index or 0}]" if device.type == "cuda" else "[]"
    loss = under(forward.autocast, ["loss = one_batch_loss()"])
    restore = [
        "    with torch.no_grad():  # (batch norm's running statistics, as they were)",
        "        for name, b in model.named_buffers():",
        "            if name in kept and b.shape == kept[name].shape:",
        "                b.copy_(kept[name])",
    ]
    return [
        "",
        "",
        "def one_batch_loss() -> torch.Tensor:",
        f'    """The loss of the {micro.k} micro-batches taken as one batch."""',
        *("    " + line for line in micro.one_batch),
        "",
        "",
        "def gap_in_ulps() -> int | None:",
        '    """The largest gap, in ULPs (ulps_apart, above), between the accumulated gradient',
        "    (p.grad now) and the gradient of the micro-batches as one batch, at the same",
        "    parameters; None where a gradient is not finite (--amp fp16: an overflow, which",
        "    skips the step). The one batch leaves no trace: torch's random numbers (dropout)",
        '    are restored after it."""',
        *(["    kept = {name: b.clone() for name, b in model.named_buffers()}"] if buffers else []),
        f"    with torch.random.fork_rng(devices={devices}):",
        *("        " + line for line in loss),
        "        one = torch.autograd.grad("
        + ("scaler.scale(loss)" if scaled else "loss")
        + ", params, allow_unused=True)",
        *(restore if buffers else []),
        "    worst = 0",
        "    for p, g in zip(params, one, strict=True):",
        "        if p.grad is not None and g is not None:",
        "            accumulated, whole = dense(p.grad), dense(g)",
        "            if not bool(accumulated.isfinite().all() and whole.isfinite().all()):",
        "                return None",
        "            worst = max(worst, ulps_apart(accumulated, whole))",
        "    return worst",
        "",
    ]


# the gradcli functions a script with --accumulate calls, written out from their source
ACCUMULATION: tuple[Callable[..., Any], ...] = (_copy, _norm_of_added, ulps_apart)
