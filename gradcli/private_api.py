"""Every private torch or Typer name gradcli uses, each with a fallback for a release that
lacks it: the fallback is slower or plainer, never different in its results.

No torch at import: the command line imports this module for Typer's hook before any run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
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


class _Foreach:
    """torch's ``_foreach_<op>`` functions by the name of their op: ``foreach.lerp_(a, b, w)``
    is ``torch._foreach_lerp_(a, b, w)``, one kernel for the whole list on CUDA.

    Fallback, where this torch lacks one: a loop over the tensors with the op of one tensor
    (``Tensor.lerp_``, ``torch.sqrt``; an in-place op a tensor lacks, as ``maximum_``, is the
    op copied back). An argument that is a list or tuple gives one item to each tensor, any
    other is shared by all, as torch's overloads read them. On the CPU torch's foreach ops are
    this very loop, so it rounds the same; a torch without the op has no foreach optimizer
    using it either.
    """

    def __getattr__(self, name: str) -> Callable[..., Any]:
        import torch

        op = getattr(torch, f"_foreach_{name}", None)
        return op if op is not None else partial(_one_by_one, name)


foreach = _Foreach()


def _one_by_one(name: str, tensors: Sequence[Tensor], *args: Any, **kwargs: Any) -> Any:
    import torch

    def mine(i: int, value: Any) -> Any:
        return value[i] if isinstance(value, list | tuple) else value

    results = []
    for i, tensor in enumerate(tensors):
        own = [mine(i, a) for a in args]
        own_kwargs = {k: mine(i, v) for k, v in kwargs.items()}
        if name.rstrip("_") in ("addcmul", "addcdiv") and len(own) == 3:
            own_kwargs["value"] = own.pop()  # positional for the list, a keyword for one
        if not name.endswith("_"):
            results.append(getattr(torch, name)(tensor, *own, **own_kwargs))
        elif hasattr(tensor, name):
            getattr(tensor, name)(*own, **own_kwargs)
        else:
            tensor.copy_(getattr(torch, name[:-1])(tensor, *own, **own_kwargs))
    return list(tensors) if name.endswith("_") else results


Grouped = dict[tuple["torch.device", "torch.dtype"], tuple[list[list["Tensor | None"]], list[int]]]


def group_by_device_and_dtype(
    tensorlists: list[list[Tensor | None]], with_indices: bool = False
) -> Grouped:
    """torch.optim's grouping before its foreach kernels
    (``Optimizer._group_tensors_by_device_and_dtype``): the i-th tensors of all lists go to
    the group of the first list's i-th tensor's (device, dtype), the lists' order kept in
    each group, with the indices of the group's tensors in the lists where ``with_indices``;
    an empty list stays empty and None stays None.

    Fallback: the same groups, in the order they first appear (torch's C++ keeps a hash
    map's order; only Adafactor's ε1 = None reads across groups, and only with parameters
    of several dtypes).
    """
    try:
        from torch.optim.optimizer import Optimizer
    except ImportError:  # pragma: no cover
        return _grouped(tensorlists, with_indices)
    group = getattr(Optimizer, "_group_tensors_by_device_and_dtype", None)
    if group is None:  # pragma: no cover
        return _grouped(tensorlists, with_indices)
    return group(tensorlists, with_indices)


def _grouped(tensorlists: list[list[Tensor | None]], with_indices: bool = False) -> Grouped:
    groups: Grouped = {}
    for i, first in enumerate(tensorlists[0]):
        assert first is not None
        lists, indices = groups.setdefault(
            (first.device, first.dtype), ([[] for _ in tensorlists], [])
        )
        for mine, whole in zip(lists, tensorlists, strict=True):
            if whole:
                mine.append(whole[i])
        if with_indices:
            indices.append(i)
    return groups


def default_foreach(params: list[Tensor]) -> bool:
    """Whether torch.optim runs its foreach implementation when neither ``foreach`` nor
    ``fused`` is given (``_default_to_fused_or_foreach``): where every parameter is a plain
    tensor on a device with foreach kernels (CUDA, not the CPU).

    Fallback: CUDA only, plain tensors and parameters only.
    """
    import torch

    try:
        from torch.optim import optimizer
    except ImportError:  # pragma: no cover
        optimizer = None  # type: ignore[assignment]
    choose = getattr(optimizer, "_default_to_fused_or_foreach", None)
    if choose is not None:
        return bool(choose(params, False, use_fused=False)[1])
    return all(  # pragma: no cover
        type(p) in (torch.Tensor, torch.nn.Parameter) and p.device.type == "cuda" for p in params
    )


def table_frame(table: Any) -> int | None:
    """What a rich ``Table`` adds to its columns' content: its edges and rules
    (``Table._extra_width``) and each column's padding (``Table._get_padding_width``), or
    None where this rich lacks them or a cell's padding depends on its neighbours'
    (``collapse_padding``): then measure the whole table, the same but slower."""
    extra = getattr(table, "_extra_width", None)
    padding = getattr(table, "_get_padding_width", None)
    if not isinstance(extra, int) or padding is None or table.collapse_padding:
        return None
    return extra + sum(padding(index) for index in range(len(table.columns)))


def grad_scaler_tensors(scaler: Any) -> tuple[Tensor, Tensor]:
    """A ``torch.amp.GradScaler``'s scale (float32) and growth tracker (int32) as tensors on
    the device, once ``scale()`` has made them (``_scale``, ``_growth_tracker``).

    Fallback: the same numbers from ``state_dict()``, read to the host."""
    import torch

    scale, tracker = getattr(scaler, "_scale", None), getattr(scaler, "_growth_tracker", None)
    if isinstance(scale, torch.Tensor) and isinstance(tracker, torch.Tensor):
        return scale, tracker
    state = scaler.state_dict()  # pragma: no cover
    return (  # pragma: no cover
        torch.tensor(state["scale"], dtype=torch.float32),
        torch.tensor(state["_growth_tracker"], dtype=torch.int32),
    )


def grad_scaler_found_inf(scaler: Any, optimizer: Any) -> list[Tensor]:
    """What ``scaler.unscale_(optimizer)`` found: 1.0 per device where a gradient held an inf
    or a NaN, else 0.0 (``_found_inf_per_device``), which ``scaler.step`` reads.

    Fallback: the same verdict from the optimizer's gradients, already unscaled (an inf or
    a NaN stays one when multiplied by 1/S)."""
    import torch

    found = getattr(scaler, "_found_inf_per_device", None)
    if found is not None:
        return list(found(optimizer).values())
    grads = [  # pragma: no cover
        p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None
    ]
    bad = any(
        not bool(torch.isfinite(g.coalesce().values() if g.is_sparse else g).all()) for g in grads
    )  # pragma: no cover
    return [torch.tensor(float(bad))]  # pragma: no cover


def column_widths(console: Any, table: Any, options: Any) -> list[int] | None:
    """The width rich gives each column of ``table`` drawn at ``options`` (padding
    included), as ``Table.__rich_console__`` finds them (``Table._calculate_column_widths``
    at the width less ``Table._extra_width``), or None where this rich lacks them."""
    calculate = getattr(table, "_calculate_column_widths", None)
    extra = getattr(table, "_extra_width", None)
    if calculate is None or not isinstance(extra, int):
        return None
    return list(calculate(console, options.update_width(options.max_width - extra)))
