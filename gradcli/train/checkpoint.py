"""Checkpoints: everything a run needs to go on exactly where it stopped.

A checkpoint holds the model's state_dict (parameters and persistent buffers), the update's
state per parameter (torch.optim's or the hand-written rule's: the same keys either way),
the number of steps done, the RNG states and the effective configuration. It is written
atomically — an unnamed file in the target's folder, fsync'ed, then renamed over the target
— so a run killed while saving leaves the previous checkpoint whole and no temporary file.
It is read with ``torch.load(weights_only=True)``, never anything less safe.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gradcli.errors import GradcliError

FORMAT = "gradcli-checkpoint"
VERSION = 1


def state_by_index(
    params: list[nn.Parameter], state: dict[Tensor, dict[str, Tensor]]
) -> dict[int, dict[str, Tensor]]:
    return {i: dict(state[p]) for i, p in enumerate(params) if state.get(p)}


def build(
    model: nn.Module,
    params: list[nn.Parameter],
    state: dict[Tensor, dict[str, Tensor]],
    step: int,
    config: dict[str, Any],
) -> dict[str, Any]:
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "model": model.state_dict(),
        "update_state": state_by_index(params, state),
        "rng": rng,
        "config": config,
    }


def check_target(path: str) -> None:
    """Fail before the run, not after it, when ``path`` cannot be written."""
    target = Path(path)
    if not target.parent.is_dir():
        raise GradcliError(f"--save {path}: no such folder: {target.parent}")
    if target.is_dir():
        raise GradcliError(f"--save {path}: is a folder")
    if not os.access(target.parent, os.W_OK):
        raise GradcliError(f"--save {path}: cannot write in {target.parent}")


def save(path: str, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` to ``path`` atomically."""
    target = Path(path)
    folder = target.parent
    check_target(path)
    try:
        _save_unnamed(target, folder, checkpoint)
    except (OSError, AttributeError) as e:  # no O_TMPFILE here (not Linux, or the filesystem)
        if isinstance(e, OSError) and e.errno not in _NO_TMPFILE:
            raise
        _save_named(target, folder, checkpoint)


_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV}


def _save_unnamed(target: Path, folder: Path, checkpoint: dict[str, Any]) -> None:
    """Linux: the file has no name until it is complete, so a kill leaves nothing behind."""
    fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o644)
    folder_fd = os.open(folder, os.O_RDONLY)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
            # name it beside the target (linkat through /proc), then rename it over the target
            temporary = f".{target.name}.{os.getpid()}.tmp"
            os.link(f"/proc/self/fd/{file.fileno()}", temporary, dst_dir_fd=folder_fd)
        try:
            os.replace(temporary, target.name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except OSError:
            os.unlink(temporary, dir_fd=folder_fd)
            raise
        os.fsync(folder_fd)  # make the rename itself durable
    finally:
        os.close(folder_fd)


def _save_named(target: Path, folder: Path, checkpoint: dict[str, Any]) -> None:
    file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, kept on success)
        dir=folder, prefix=f".{target.name}.", suffix=".tmp", delete=False
    )
    try:
        with file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(file.name, target)
        with contextlib.suppress(OSError):
            folder_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(folder_fd)
            finally:
                os.close(folder_fd)
    except BaseException:
        Path(file.name).unlink(missing_ok=True)
        raise


def load(path: str) -> dict[str, Any]:
    """Read a checkpoint safely; anything that is not one of ours is an error."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GradcliError(f"--resume {path}: no such file") from None
    except IsADirectoryError:
        raise GradcliError(f"--resume {path}: is a folder, not a checkpoint") from None
    except Exception as e:  # torch raises many kinds for a damaged or foreign file
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        reason = f"{type(e).__name__}: {first}" if first else type(e).__name__

        raise GradcliError(
            f"--resume {path}: not a readable checkpoint (truncated, corrupt or "
            f"not made by gradcli): {reason[:200]}"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise GradcliError(f"--resume {path}: not a gradcli checkpoint")
    if checkpoint.get("version") != VERSION:
        raise GradcliError(
            f"--resume {path}: checkpoint version {checkpoint.get('version')}, "
            f"this gradcli reads version {VERSION}"
        )
    return checkpoint


def restore(
    path: str,
    checkpoint: dict[str, Any],
    model: nn.Module,
    params: list[nn.Parameter],
    config: dict[str, Any],
) -> dict[int, dict[str, Tensor]]:
    """Load the model state into ``model`` and the RNG states; return the update state by
    parameter index. A checkpoint of another model or optimizer is an error."""
    saved = checkpoint.get("config", {})
    for key in ("model", "optimizer", "dtype"):
        if saved.get(key) != config.get(key):
            raise GradcliError(
                f"--resume {path}: the checkpoint is for --{key} "
                f"{saved.get(key)}, this run has --{key} {config.get(key)}"
            )
    try:
        model.load_state_dict(checkpoint["model"], strict=True)
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise GradcliError(
            f"--resume {path}: its parameters do not fit this model: {detail[:300]}"
        ) from None
    rng = checkpoint.get("rng", {})
    if isinstance(rng.get("torch"), Tensor):
        torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    state = checkpoint.get("update_state", {})
    for index, values in state.items():
        if not 0 <= index < len(params):
            raise GradcliError(
                f"--resume {path}: its optimizer state has a parameter #{index}; "
                f"this model has {len(params)}"
            )
        for key, value in values.items():
            if key != "step" and value.shape != params[index].shape:
                raise GradcliError(
                    f"--resume {path}: optimizer state {key!r} of parameter "
                    f"#{index} has shape {list(value.shape)}, the parameter "
                    f"{list(params[index].shape)}"
                )
    return state
