"""How many CPU threads a run's operations use.

torch splits an operation across its intra-op threads only when the operation has more than
``GRAIN`` elements (``at::internal::GRAIN_SIZE``); a small model's operations never do, but
the threads are still woken for them. On a 2-core machine with one other busy process,
``gradcli optim -m mlp -o adam --steps 2000`` took 17–20 s with torch's default of two
threads and 6 s with one (5.8–5.9 s either way on an idle machine). A model with a
parameter larger than that, like the 1M-parameter benchmark MLP, runs faster with torch's
default (4.6 s against 5.4 s). So a CPU run of a model whose every parameter has at most
``GRAIN`` elements uses one thread, unless the user chose a number of threads through
``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``.
"""

from __future__ import annotations

import os

import torch
from torch import nn

GRAIN = 32768


def suit(model: nn.Module, device: torch.device) -> None:
    """One intra-op thread for a small model on the CPU; torch's choice otherwise."""
    if device.type != "cpu" or any(
        os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
    ):
        return
    if all(p.numel() <= GRAIN for p in model.parameters()):
        torch.set_num_threads(1)
