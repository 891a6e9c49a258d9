"""Mixed precision (``--amp bf16|fp16``): the forward under ``torch.autocast``, as torch
users write it; the parameters (the master weights) and their gradients stay float32::

    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        loss = loss_fn(model(x), y)     # matmuls and convolutions in bfloat16
    loss.backward()                     # outside autocast; .grad in the parameters' float32
    optimizer.step()

bfloat16 keeps float32's exponent range, so small gradients do not underflow and need no
loss scaling; float16 does not, and gets a gradient scaler (``gradcli.train.loss_scaling``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import Tensor

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(amp: str, device: torch.device) -> Callable[[], AbstractContextManager[None]]:
    """A fresh ``torch.autocast`` context for ``amp`` on ``device``, each time it is called."""
    dtype = AMP_DTYPES[amp]
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def under(
    context: Callable[[], AbstractContextManager[None]], forward: Callable[[], Tensor]
) -> Callable[[], Tensor]:
    """``forward`` computed under ``context()`` (backward() then runs outside it)."""

    def forward_under() -> Tensor:
        with context():
            return forward()

    return forward_under
