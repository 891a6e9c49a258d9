"""What several rules share and that needs torch (imported by the rules, inside their bodies)."""

from __future__ import annotations

import torch


def scalar_dtype() -> torch.dtype:
    """torch.optim keeps ``step`` as a CPU scalar tensor of this dtype (``_get_scalar_dtype``)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
