"""Loss scaling for ``--amp fp16``: ``torch.amp.GradScaler`` on the optim path, and
``HandScaler``, its arithmetic by hand, on the manual path.

float16 has 5 bits of exponent: a gradient below 2⁻²⁴ ≈ 6e-8 (the smallest subnormal)
becomes 0 in the forward's float16 kernels' backward. So the loss is multiplied by a large
S before ``backward()``, the gradients (float32, as the master weights) divided by it after,
and a step whose scaled gradients overflowed is skipped and S halved. The loop torch
documents, which both paths run (``gradcli.train.loop``)::

    scaler = torch.amp.GradScaler(device.type, init_scale=S₀, growth_interval=N)
    optimizer.zero_grad()
    with torch.autocast(device_type=device.type, dtype=torch.float16):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()          # with --accumulate: scaler.scale(loss / K), K times
    scaler.unscale_(optimizer)             # before clipping, which must see the true gradient
    clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)                 # optimizer.step(), unless an inf/NaN was found
    scaler.update()                        # S backs off or grows
    scheduler.step()                       # stepped also when the update was skipped

The arithmetic, as torch/amp/grad_scaler.py and its kernels (``_amp_foreach_non_finite_
check_and_unscale_``, ``_amp_update_scale_``) do it::

    S, t                            float32 scale (S₀ = 65536), int32 growth tracker (0)
    scaled = loss · S               scale(): float32 product; backward() gives S·g
    inv = float32(1 / float64(S))   unscale_(): the reciprocal in float64, rounded once
    found_inf = 1 if any gradient element is inf or NaN, else 0
    g ← g · inv                     every gradient, element by element (found_inf or not)
    step(): the update runs only if found_inf = 0 (a skipped step changes no parameter and
            no optimizer state: Adam's step count stays)
    update(): found_inf = 1:  S ← float32(S · 0.5), t ← 0
              else:           t + 1 = N ? (S ← float32(S · 2) unless that is inf; t ← 0)
                                        : t ← t + 1

With several optimizers (Muon and the AdamW of its other parameters) each has its own
found_inf and is skipped on its own; ``update()`` backs off if any found one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

GROWTH_FACTOR = 2.0  # torch's defaults (powers of two: S stays exact in float32)
BACKOFF_FACTOR = 0.5
INIT_SCALE = 2.0**16
GROWTH_INTERVAL = 2000


@dataclass(frozen=True)
class Unscaled:
    """One step's loss scaling, read once the gradients are unscaled (tensors on the
    device: reading them is the record's sync): the scale the loss was multiplied by,
    found_inf over every optimizer, and the growth tracker before ``update()``."""

    scale: Tensor
    found_inf: Tensor
    growth_tracker: Tensor


def _float32(x: float) -> float:
    """``x`` rounded to float32 (inf where it does not fit), as C++'s ``static_cast<float>``."""
    return float(torch.tensor(x, dtype=torch.float32))


class HandScaler:
    """``torch.amp.GradScaler``'s arithmetic by hand, with its state and method names; its
    ``state_dict()`` is torch's, key for key, so a checkpoint resumes on either path."""

    def __init__(
        self, init_scale: float = INIT_SCALE, growth_interval: int = GROWTH_INTERVAL
    ) -> None:
        self._init_scale = init_scale
        self._init_growth_tracker = 0
        self._growth_factor = GROWTH_FACTOR
        self._backoff_factor = BACKOFF_FACTOR
        self._growth_interval = growth_interval
        self._scale: Tensor | None = None  # created on the loss's device by the first scale()
        self._growth_tracker: Tensor | None = None
        self.found_inf_per_part: dict[int, Tensor] = {}  # unscale_()'s, until update()

    def scale(self, loss: Tensor) -> Tensor:
        """loss · S."""
        if self._scale is None:
            self._scale = torch.full((), self._init_scale, dtype=torch.float32, device=loss.device)
            self._growth_tracker = torch.full(
                (), self._init_growth_tracker, dtype=torch.int32, device=loss.device
            )
        return loss * self._scale

    @torch.no_grad()
    def unscale_(self, part: int, grads: list[Tensor]) -> None:
        """g ← g · float32(1/float64(S)) for the gradients of one optimizer's parameters,
        and that optimizer's found_inf (a sparse gradient: its values, as torch's)."""
        assert self._scale is not None
        inv_scale = self._scale.double().reciprocal().float()
        found_inf = torch.zeros((), dtype=torch.float32, device=self._scale.device)
        for grad in grads:
            values = grad._values() if grad.is_sparse else grad
            found_inf = torch.maximum(found_inf, (~values.isfinite()).any().float())
            values.mul_(inv_scale)
        self.found_inf_per_part[part] = found_inf

    def skips(self, part: int) -> bool:
        """step() skips this optimizer's update: its gradients held an inf or a NaN."""
        return bool(self.found_inf_per_part[part].item())

    def found_inf(self) -> Tensor:
        """Every optimizer's found_inf, added up (as ``update()`` adds them)."""
        values = list(self.found_inf_per_part.values())
        total = values[0].clone()
        for value in values[1:]:
            total += value
        return total

    def update(self) -> None:
        """S backs off after a skipped step, and grows after N steps in a row not skipped."""
        assert self._scale is not None and self._growth_tracker is not None
        scale, tracker = float(self._scale), int(self._growth_tracker)
        if float(self.found_inf()):
            self._scale.fill_(_float32(scale * self._backoff_factor))
            self._growth_tracker.fill_(0)
        elif tracker + 1 == self._growth_interval:
            grown = _float32(scale * self._growth_factor)
            if math.isfinite(grown):  # (torch does not grow S past float32's largest)
                self._scale.fill_(grown)
            self._growth_tracker.fill_(0)
        else:
            self._growth_tracker.fill_(tracker + 1)
        self.found_inf_per_part = {}

    def state_dict(self) -> dict[str, Any]:
        return {
            "scale": self._init_scale if self._scale is None else float(self._scale),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": (
                self._init_growth_tracker
                if self._growth_tracker is None
                else int(self._growth_tracker)
            ),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._init_scale = float(state["scale"])
        self._init_growth_tracker = int(state["_growth_tracker"])
        self._growth_factor = float(state["growth_factor"])
        self._backoff_factor = float(state["backoff_factor"])
        self._growth_interval = int(state["growth_interval"])
        if self._scale is not None and self._growth_tracker is not None:
            self._scale.fill_(self._init_scale)
            self._growth_tracker.fill_(self._init_growth_tracker)

    def unscaled(self) -> Unscaled:
        """What the record shows of this step's scaling (after every ``unscale_``)."""
        assert self._scale is not None and self._growth_tracker is not None
        return Unscaled(self._scale.clone(), self.found_inf(), self._growth_tracker.clone())


def torch_unscaled(scaler: torch.amp.GradScaler, optimizers: list[Any]) -> Unscaled:
    """The same from torch's ``GradScaler``, after ``unscale_`` of each optimizer."""
    from gradcli.private_api import grad_scaler_found_inf, grad_scaler_tensors

    scale, tracker = grad_scaler_tensors(scaler)
    found = [f for o in optimizers for f in grad_scaler_found_inf(scaler, o)]
    total = found[0].clone()
    for value in found[1:]:
        total += value.to(total.device)
    return Unscaled(scale.clone(), total, tracker.clone())


def explain(unscaled: tuple[float, float, int], loss: float, after: dict[str, Any]) -> list[str]:
    """``--explain``'s lines of one step's scaling: before clipping, the scale and the
    unscale; after the update, ``update()``."""
    scale, found_inf, tracker = unscaled
    inv = _float32(1 / scale) if scale else math.inf
    skipped = bool(found_inf)
    verdict = (
        "found_inf = 1: an inf or NaN, so scaler.step() skips optimizer.step()"
        if skipped
        else "found_inf = 0: optimizer.step() runs on g"
    )
    new_scale, new_tracker = float(after["scale"]), int(after["_growth_tracker"])
    interval = int(after["growth_interval"])
    if skipped:
        change = f"S ← S·0.5 = {new_scale:g}; growth tracker ← 0"
    elif new_tracker == 0:
        change = f"{interval} steps in a row not skipped: S ← S·2 = {new_scale:g}; tracker ← 0"
    else:
        change = f"growth tracker {tracker} → {new_tracker} of {interval}; S stays {new_scale:g}"
    return [
        f"scaler.scale(loss): loss·S = {loss:.6g} × {scale:g} = {loss * scale:.6g}; "
        "backward() gives S·g",
        f"scaler.unscale_(optimizer): g ← (S·g)·(1/S), 1/S = {inv:.6g} (float32); {verdict}",
        f"scaler.update(): {change}",
    ]
