"""Every private torch or Typer name gradcli uses, each with a fallback for a release that
lacks it: the fallback is slower or plainer, never different in its results.

No torch at import: the command line imports this module for Typer's hook before any run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

try:  # Typer >= 0.29 converts option values through this class (see _startup/coercion.py)
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover - another Typer: keep its own conversion
    RuntimeParam = None  # type: ignore[assignment,misc]
    build_runtime_param = None  # type: ignore[assignment]


def foreach_norm(tensors: list[Tensor]) -> list[Tensor]:
    """The L2 norm of each tensor: one kernel for all of them where torch has
    ``_foreach_norm`` (every release since 1.13), else one call each."""
    import torch

    norm = getattr(torch, "_foreach_norm", None)
    if norm is not None:
        return list(norm(tensors))
    return [torch.linalg.vector_norm(t) for t in tensors]  # pragma: no cover


def fused_devices() -> list[str]:
    """The device types with fused optimizer kernels in this torch."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # pragma: no cover - then only what every release since 2.0 had
        return ["cuda"]
    return list(_get_fused_kernels_supported_devices())
