"""torch.optim's scalar state (``step``; ASGD's ``eta`` and ``mu``): tensors of one dtype.

The rules import this inside their bodies, so ``--print-script`` gathers it with them."""

from __future__ import annotations

import torch


def scalar_dtype() -> torch.dtype:
    """torch.optim keeps ``step`` as a CPU scalar tensor of this dtype (``_get_scalar_dtype``)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
