"""Checkpoints: everything a run needs to go on exactly where it stopped.

A checkpoint holds the model's state_dict (parameters and persistent buffers), the update's
state per parameter (torch.optim's or the hand-written rule's: the same keys either way),
the number of steps done, the RNG states and the effective configuration.

Writing (``--save PATH``):

- PATH must name a regular file, existing or not. A name that ends in ``/``, ``.`` or ``..``
  names a folder and is refused; so is anything that exists and is not a regular file (a
  folder, a device, a fifo, a socket), before the run starts and again before writing.
- A symbolic link is followed, link by link, to its end: a link to a regular file replaces
  that file, a dangling link creates the file it names (its folder must exist); a link to
  anything else is refused like the thing itself. The link stays a link.
- The write is atomic: an unnamed file in the final file's folder, fsync'ed, then named
  (with a random temporary name) and renamed over the file. A run killed or failing while
  saving (disk full, no permission, a read-only filesystem) leaves the previous checkpoint
  whole and no temporary file; a failure is one line naming the file and the system's reason.

Reading (``--resume PATH``):

- PATH must be a regular file (a link to one is fine); nothing else is opened, so a fifo or
  a device cannot block the run or feed it forever.
- Before anything is unpacked, the zip archive that ``torch.save`` writes is measured: the
  sizes its members declare, added up, must be at most ``MAX_UNPACKED`` (4 GiB) and at most
  ``MAX_RATIO`` (100) times the file's own size (torch stores tensors uncompressed, so a real
  checkpoint unpacks to about its own size; a "zip bomb" does not get to allocate). A file
  that is not a zip archive (torch's legacy format) is left to ``torch.load``, as before.
- It is read with ``torch.load(weights_only=True)``, never anything less safe, and then its
  whole structure is checked against ``_SCHEMA`` before any of it is used: a foreign or
  damaged checkpoint is one line, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import secrets
import stat
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import torch
from torch import Tensor, nn

from gradcli import file_kinds
from gradcli.data.feed import Feed
from gradcli.errors import GradcliError

FORMAT = "gradcli-checkpoint"
VERSION = 1

MAX_UNPACKED = 4 << 30
"""The most a checkpoint may unpack to, in bytes: the sizes its zip members declare."""
MAX_RATIO = 100
"""... and at most this many times the size of the file itself."""

_MAX_LINKS = 40  # as Linux's own limit on symbolic links followed in one path


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


# --- writing ---------------------------------------------------------------------------------


def check_target(path: str) -> None:
    """Fail before the run, not after it, when ``path`` cannot be written: it must name a
    regular file, existing or not, in a folder that exists and can be written."""
    _destination(path)


def _destination(path: str) -> Path:
    """The regular file that ``--save path`` replaces or creates: ``path`` itself, or the end
    of its chain of symbolic links. Anything else is a GradcliError."""
    where = f"--save {path}"
    try:
        current = path
        for _ in range(_MAX_LINKS):
            if os.path.basename(current) in ("", ".", ".."):
                via = "" if current == path else f" (a symbolic link to {current})"
                raise GradcliError(f"{where}{via}: names a folder, not a file")
            if not os.path.islink(current):
                break
            current = os.path.join(os.path.dirname(current), os.readlink(current))
        else:
            raise GradcliError(f"{where}: too many levels of symbolic links")
        via = "" if current == path else f" (a symbolic link to {current})"
        try:
            mode: int | None = os.stat(path).st_mode  # the kernel's view, /proc's links too
        except (FileNotFoundError, NotADirectoryError):
            mode = None  # a file to create
        if mode is not None and not stat.S_ISREG(mode):
            raise GradcliError(f"{where}{via}: is {_kind(mode)}, not a regular file")
        target = Path(current)
        if not target.parent.is_dir():
            raise GradcliError(f"{where}{via}: no such folder: {target.parent}")
        if not os.access(target.parent, os.W_OK):
            raise GradcliError(f"{where}{via}: cannot write in {target.parent}")
    except OSError as e:
        raise GradcliError(f"{where}: {e.strerror or e}") from None
    return target


def save(path: str, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` to ``path`` atomically."""
    target = _destination(path)
    try:
        try:
            _save_unnamed(target, checkpoint)
        except (OSError, AttributeError) as e:  # no O_TMPFILE here (not Linux, or the filesystem)
            if isinstance(e, OSError) and e.errno not in _NO_TMPFILE:
                raise
            _save_named(target, checkpoint)
    except (OSError, RuntimeError) as e:  # torch.save wraps a failed write in a RuntimeError
        raise GradcliError(f"--save {path}: cannot write the checkpoint: {_reason(e)}") from None


_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV}


def _save_unnamed(target: Path, checkpoint: dict[str, Any]) -> None:
    """Linux: the file has no name until it is complete, so a kill leaves nothing behind."""
    folder_fd = os.open(target.parent, os.O_RDONLY)
    try:
        fd = os.open(target.parent, os.O_TMPFILE | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
            # name it beside the target (linkat through /proc), then rename it over the target
            temporary = _link_beside(file.fileno(), target.name, folder_fd)
        try:
            os.replace(temporary, target.name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except BaseException:
            os.unlink(temporary, dir_fd=folder_fd)
            raise
        os.fsync(folder_fd)  # make the rename itself durable
    finally:
        os.close(folder_fd)


def _link_beside(fd: int, name: str, folder_fd: int) -> str:
    """Give the unnamed file ``fd`` a fresh temporary name; a name already taken (another
    save's, or one a crash left) is left alone."""
    for _ in range(100):
        temporary = f".{name}.{secrets.token_hex(6)}.tmp"
        with contextlib.suppress(FileExistsError):
            os.link(f"/proc/self/fd/{fd}", temporary, dst_dir_fd=folder_fd)
            return temporary
    raise FileExistsError(errno.EEXIST, "no free temporary name", temporary)


def _save_named(target: Path, checkpoint: dict[str, Any]) -> None:
    folder = target.parent
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


def _reason(error: BaseException) -> str:
    """The system's words for a failed write (torch.save wraps them in a RuntimeError)."""
    cause: BaseException | None = error
    for _ in range(8):  # (a chain can, in principle, loop)
        if cause is None:
            break
        if isinstance(cause, OSError):
            return cause.strerror or str(cause)
        cause = cause.__cause__ or cause.__context__
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a fifo",
    stat.S_IFSOCK: "a socket",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


# --- reading ---------------------------------------------------------------------------------


def load(path: str) -> dict[str, Any]:
    """Read a checkpoint safely; anything that is not one of ours is an error."""
    with _open_regular(path) as file:
        _check_kind(path, file)
        _check_unpacked_size(path, file)
        try:
            with warnings.catch_warnings():  # (a foreign pickle's protocol: the error says)
                warnings.simplefilter("ignore")
                checkpoint = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many kinds for a damaged or foreign file
            _unreadable(path, e)
    _validate(path, checkpoint)
    return checkpoint


def _open_regular(path: str) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file; nothing else is opened (and,
    should a fifo be swapped in meanwhile, O_NONBLOCK keeps the open from waiting)."""
    where = f"--resume {path}"
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode):
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            mode = os.fstat(fd).st_mode
            if stat.S_ISREG(mode):
                return os.fdopen(fd, "rb")
            os.close(fd)
    except FileNotFoundError:
        raise GradcliError(f"{where}: no such file") from None
    except OSError as e:
        raise GradcliError(f"{where}: cannot read it: {e.strerror or e}") from None
    raise GradcliError(f"{where}: is {_kind(mode)}, not a regular file")


def _check_unpacked_size(path: str, file: BinaryIO) -> None:
    """Refuse a zip archive that would unpack to more than MAX_UNPACKED bytes, or to more than
    MAX_RATIO times its own size, before torch allocates any of it."""
    size = os.fstat(file.fileno()).st_size
    try:
        if file.read(4) != b"PK\x03\x04":  # what torch.load takes for its zip format
            return  # the legacy format, or no checkpoint at all: torch.load decides
        with zipfile.ZipFile(file) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as e:
        _unreadable(path, e)
    finally:
        file.seek(0)
    limit = min(MAX_UNPACKED, MAX_RATIO * size)
    if unpacked > limit:
        bound = (
            f"the limit of {MAX_UNPACKED} bytes"
            if limit == MAX_UNPACKED
            else f"{MAX_RATIO} times its own size ({size} bytes)"
        )
        raise GradcliError(
            f"--resume {path}: refused: it would unpack to {unpacked} bytes, more than {bound}"
        )


def _check_kind(path: str, file: BinaryIO) -> None:
    """Refuse, in gradcli's words, a file that is no torch.save file at all (JSON lines, a
    text file): torch's own error for one is a pickle's (``KeyError: 101``, an
    ``UnpicklingError``)."""
    head = file.read(file_kinds.HEAD)
    file.seek(0)
    if not head.startswith((file_kinds.ZIP, file_kinds.PICKLE)):
        raise GradcliError(
            f"--resume {path}: not a checkpoint: it is {file_kinds.kind_of(head)}; "
            f"--resume takes {file_kinds.CHECKPOINT}"
        )


def _unreadable(path: str, e: Exception) -> NoReturn:
    if isinstance(e, pickle.UnpicklingError) and "weights_only" in str(e):
        # torch's text goes on to advise weights_only=False, which runs the file's code
        raise GradcliError(
            f"--resume {path}: refused: it holds Python objects other than tensors and plain "
            "data, which no gradcli checkpoint holds and gradcli never loads"
        ) from None
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if len(first) > 120:  # cut at a word, and say so
        first = first[:120].rsplit(" ", 1)[0] + " …"
    reason = f"{type(e).__name__}: {first}" if first else type(e).__name__
    raise GradcliError(
        f"--resume {path}: not a readable checkpoint (truncated, corrupt or "
        f"not made by gradcli): {reason}"
    ) from None


@dataclass(frozen=True)
class _Leaf:
    what: str
    fits: Callable[[Any], bool]


@dataclass(frozen=True)
class _Map:
    key: _Leaf
    value: Any


@dataclass(frozen=True)
class _List:
    item: Any


def _is_bytes(v: Any) -> bool:
    return (
        isinstance(v, Tensor)
        and v.layout == torch.strided
        and v.dtype == torch.uint8
        and v.device.type == "cpu"
        and v.dim() == 1
    )


_CPU_RNG_SIZE = torch.get_rng_state().numel()
_STR = _Leaf("a str", lambda v: type(v) is str)
_NAME = _Leaf("a str of one line", lambda v: type(v) is str and v.isprintable())
_COUNT = _Leaf("an int >= 0", lambda v: type(v) is int and v >= 0)
_TENSOR = _Leaf("a dense tensor", lambda v: isinstance(v, Tensor) and v.layout == torch.strided)


def _is_state_value(value: Any, inside: bool = False) -> bool:
    """A tensor (dense, or sparse: SGD's momentum on sparse gradients), a number (SparseAdam's
    step, LBFGS's counters), or a list of tensors, numbers and None (LBFGS's history)."""
    if isinstance(value, Tensor):
        return value.layout in (torch.strided, torch.sparse_coo)
    if type(value) in (int, float):
        return True
    if value is None:
        return inside
    return type(value) is list and not inside and all(_is_state_value(v, True) for v in value)


_STATE_VALUE = _Leaf("a tensor, a number or a list of them", _is_state_value)
_BYTES = _Leaf("a 1-d uint8 CPU tensor", _is_bytes)
_CPU_RNG = _Leaf(
    f"a CPU RNG state ({_CPU_RNG_SIZE} uint8)",
    lambda v: _is_bytes(v) and v.numel() == _CPU_RNG_SIZE,
)

# What a checkpoint holds, beyond "format" and "version". A plain dict is a record: str keys,
# these among them ("?": may be absent), others ignored; _Map is a mapping, _List a list.
_SCHEMA: dict[str, Any] = {
    "step": _COUNT,
    "end?": _COUNT,  # the step the run was to end at (after "step" when it was stopped early)
    "model": _Map(_STR, _TENSOR),
    "update_state": _Map(_COUNT, _Map(_STR, _STATE_VALUE)),
    "rng": {"torch": _CPU_RNG, "cuda?": _List(_BYTES)},  # "cuda": saved where CUDA was used
    "config": {"model": _NAME, "optimizer": _NAME, "dtype": _NAME},  # and the other options
    # the losses a ReduceLROnPlateau schedule was fed, one per step (with that schedule only)
    "schedule_losses?": _List(_Leaf("a float", lambda v: type(v) is float)),
    # with --data: where the DataLoader was (gradcli.data.feed.Feed.state_dict)
    "feed?": {"epoch": _COUNT, "batch": _COUNT, "generator": _CPU_RNG, "sums": _TENSOR},
    # with --amp fp16: the gradient scaler's state_dict() (torch's keys, on both paths)
    "grad_scaler?": {
        "scale": _Leaf("a float > 0", lambda v: type(v) is float and v > 0),
        "growth_factor": _Leaf("a float", lambda v: type(v) is float),
        "backoff_factor": _Leaf("a float", lambda v: type(v) is float),
        "growth_interval": _Leaf("an int >= 1", lambda v: type(v) is int and v >= 1),
        "_growth_tracker": _COUNT,
    },
}


def steps_left(checkpoint: dict[str, Any]) -> int | None:
    """The steps the run saved in ``checkpoint`` had still to make when it was stopped
    (Ctrl-C, a signal, a closed pipe, the model's failure); None for a run that ended."""
    end, step = checkpoint.get("end"), checkpoint["step"]
    return end - step if isinstance(end, int) and end > step else None


def _validate(path: str, checkpoint: Any) -> None:
    """Refuse ``checkpoint`` unless it is one of ours and its whole structure fits _SCHEMA."""
    where = f"--resume {path}"
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise GradcliError(f"{where}: not a gradcli checkpoint")
    version = checkpoint.get("version")
    if type(version) is not int or version != VERSION:
        raise GradcliError(
            f"{where}: checkpoint version {_show(version)}, this gradcli reads version {VERSION}"
        )
    problem = _problem(checkpoint, _SCHEMA, "")
    if problem is not None:
        raise GradcliError(f"{where}: not a valid gradcli checkpoint: {problem}")


def _problem(value: Any, schema: Any, where: str) -> str | None:
    """What keeps ``value`` (found at ``where``) from fitting ``schema``, or None."""
    if isinstance(schema, _Leaf):
        return None if schema.fits(value) else f"{where} is {_show(value)}, not {schema.what}"
    if isinstance(schema, _List):
        if not isinstance(value, list):
            return f"{where} is {_show(value)}, not a list"
        items = ((_problem(v, schema.item, f"{where}[{i}]")) for i, v in enumerate(value))
        return next((p for p in items if p is not None), None)
    if not isinstance(value, dict):
        return f"{where} is {_show(value)}, not a dict"
    if isinstance(schema, _Map):
        items = (
            _problem(k, schema.key, f"a key of {where}")
            or _problem(v, schema.value, f"{where}[{_short(k)}]")
            for k, v in value.items()
        )
        return next((p for p in items if p is not None), None)
    for key in value:
        if type(key) is not str:
            return f"{where or 'the checkpoint'} has a key {_show(key)}, not a str"
    for key, part in schema.items():
        name = key.removesuffix("?")
        inner = f"{where}[{name!r}]" if where else name
        if name not in value:
            if key.endswith("?"):
                continue
            return f"{inner} is missing"
        problem = _problem(value[name], part, inner)
        if problem is not None:
            return problem
    return None


def _show(value: Any) -> str:
    """``value`` in a few words, for a message of one line."""
    if isinstance(value, Tensor):
        layout = "" if value.layout == torch.strided else f"{value.layout} ".removeprefix("torch.")
        dtype = str(value.dtype).removeprefix("torch.")
        return f"a {layout}{dtype} tensor of shape {list(value.shape)} on {value.device}"
    if value is None or isinstance(value, bool | int | float | str):
        return _short(value)
    return f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class _StateKinds:
    """What the state of one optimizer (and of the one that trains its other parameters,
    Muon's AdamW) may hold, from the catalog: its documented keys; ``step`` a scalar; a list
    only in a closure-driven optimizer's history (LBFGS); a sparse tensor only where the
    optimizer takes sparse gradients."""

    keys: frozenset[str]
    lists: bool
    sparse: bool

    def misfit(self, key: str, value: Any) -> str | None:
        if key not in self.keys:
            return f"one of the keys {', '.join(sorted(self.keys))}"
        if key == "step" and not (
            type(value) in (int, float) or (isinstance(value, Tensor) and value.dim() == 0)
        ):
            return "a scalar"
        if isinstance(value, list) and not self.lists:
            return "a tensor"
        tensors = value if isinstance(value, list) else [value]
        if not self.sparse and any(
            isinstance(t, Tensor) and t.layout != torch.strided for t in tensors
        ):
            return "a dense tensor"
        return None


def _state_kinds(name: str) -> _StateKinds:
    from gradcli import optimizers

    optimizer = optimizers.find(name)
    described = [optimizer] + ([optimizers.find(optimizer.rest)] if optimizer.rest else [])
    return _StateKinds(
        frozenset(key for o in described for key in o.state),
        any(o.closure for o in described),
        any(o.gradients != "dense" for o in described),
    )


def _fits_shape(state: torch.Size, param: torch.Size) -> bool:
    """A state tensor's shape: the parameter's, or the parameter's with some dimensions
    reduced to 1 (Adafactor's row and column variances)."""
    return len(state) == len(param) and all(s in (p, 1) for s, p in zip(state, param, strict=True))


def _fits_param(value: Tensor, param: Tensor, total: int) -> bool:
    """A state tensor of ``param``: a floating-point scalar (step, NAdam's mu_product, ASGD's
    eta, LBFGS's t, H_diag, ro), else of the parameter's dtype and shape, or a factored shape
    (Adafactor: 1 in some dims), or a flat vector of all the parameters' elements (LBFGS)."""
    if value.dim() == 0:
        return value.is_floating_point()
    return value.dtype == param.dtype and (
        _fits_shape(value.shape, param.shape) or tuple(value.shape) == (total,)
    )


def restore(
    path: str,
    checkpoint: dict[str, Any],
    model: nn.Module,
    params: list[nn.Parameter],
    config: dict[str, Any],
) -> dict[int, dict[str, Tensor]]:
    """Load the model state into ``model`` and the RNG states; return the update state by
    parameter index. A checkpoint of another model or optimizer is an error, found before
    anything is loaded."""
    where = f"--resume {path}"
    _validate(path, checkpoint)
    saved = checkpoint["config"]
    for key in ("model", "optimizer", "dtype"):
        if saved[key] != config.get(key):
            raise GradcliError(
                f"{where}: the checkpoint is for --{key} "
                f"{saved[key]}, this run has --{key} {config.get(key)}"
            )
    misfit = _misfit(model.state_dict(), checkpoint["model"])
    if misfit is not None:
        raise GradcliError(f"{where}: its parameters do not fit this model: {misfit}")
    state = checkpoint["update_state"]
    total = sum(p.numel() for p in params)
    kinds = _state_kinds(config["optimizer"])
    for index, values in state.items():
        if not 0 <= index < len(params):
            raise GradcliError(
                f"{where}: its optimizer state has a parameter #{index}; "
                f"this model has {len(params)}"
            )
        param = params[index]
        for key, value in values.items():
            wrong = kinds.misfit(key, value)
            if wrong is not None:
                raise GradcliError(
                    f"{where}: optimizer state {_short(key)} of parameter #{index} is "
                    f"{_show(value)}, not {wrong}"
                )
            bad = next(
                (
                    t
                    for t in (value if isinstance(value, list) else [value])
                    if isinstance(t, Tensor) and not _fits_param(t, param, total)
                ),
                None,
            )
            if bad is not None:
                value = bad
                if bad.dim() == 0:
                    expected = "a floating-point scalar"
                else:
                    dtype = str(param.dtype).removeprefix("torch.")
                    expected = f"the parameter's {dtype} of shape {list(param.shape)}"
                    if index == 0:  # LBFGS keeps its vectors there
                        expected += f" or of all parameters as one vector of {total}"
                raise GradcliError(
                    f"{where}: optimizer state {_short(key)} of parameter #{index} is "
                    f"{_show(value)}, not {expected}"
                )
    try:
        model.load_state_dict(checkpoint["model"], strict=True)
    except RuntimeError as e:  # a check the model makes itself (its own load hooks)
        detail = " ".join(line.strip() for line in str(e).strip().splitlines()[:3])[:300]
        raise GradcliError(f"{where}: its parameters do not fit this model: {detail}") from None
    rng = checkpoint["rng"]
    try:  # (bytes of the right size may still be no generator's state)
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
    except (RuntimeError, ValueError) as e:
        raise GradcliError(f"{where}: not a valid gradcli checkpoint: its RNG state: {e}") from None
    return state


def _misfit(own: dict[str, Tensor], theirs: dict[str, Tensor]) -> str | None:
    """How a saved state_dict does not fit the model's own, in words, or None."""
    lacking = [name for name in own if name not in theirs]
    if lacking:
        return f"it lacks {_short(lacking[0])}"
    extra = [name for name in theirs if name not in own]
    if extra:
        return f"this model has no {_short(extra[0])}"
    for name, value in theirs.items():
        if value.shape != own[name].shape or value.dtype != own[name].dtype:
            return f"its {_short(name)} is {_show(value)}, this model's is {_show(own[name])}"
    return None


def schedule_losses(
    path: str, checkpoint: dict[str, Any], schedule: str | None, stepped: int | None = None
) -> list[float]:
    """The losses the checkpoint's schedule was fed (ReduceLROnPlateau), after checking that
    this run follows the schedule the checkpoint's did: a schedule is replayed over the
    checkpoint's steps, so another one would not continue the same run. ``stepped``: how
    many times the schedule stepped (default: once per step)."""
    where = f"--resume {path}"
    saved = checkpoint["config"].get("schedule")
    if saved != schedule:
        was = "no --schedule" if saved is None else f"--schedule {saved}"
        now = "no --schedule" if schedule is None else f"--schedule {schedule}"
        raise GradcliError(
            f"{where}: the checkpoint was saved with {was}, this run has {now}; resume with "
            "the schedule it was saved with"
        )
    losses = list(checkpoint.get("schedule_losses", []))
    step = int(checkpoint["step"])
    expected = step if stepped is None else stepped
    if losses and len(losses) != expected:
        raise GradcliError(
            f"{where}: not a valid gradcli checkpoint: schedule_losses has {len(losses)} "
            f"losses for {expected} scheduler steps"
        )
    return losses


def check_amp(path: str, config: dict[str, Any], amp: str | None) -> None:
    """This run has the ``--amp`` of the checkpoint's run (``config``)."""
    saved = config.get("amp")
    if saved != amp:
        was = "no --amp" if saved is None else f"--amp {saved}"
        now = "no --amp" if amp is None else f"--amp {amp}"
        raise GradcliError(
            f"--resume {path}: the checkpoint was saved with {was}, this run has {now}; "
            "resume with the --amp it was saved with"
        )


def restore_scaler(
    path: str, checkpoint: dict[str, Any], update: Any, amp: str | None, growth_interval: int
) -> None:
    """Load the checkpoint's gradient scaler state (``--amp fp16``) into ``update``'s
    scaler, after checking that this run has the checkpoint's ``--amp``: a run saved with
    a scaler does not go on without one, nor the other way round."""
    where = f"--resume {path}"
    check_amp(path, checkpoint["config"], amp)
    state = checkpoint.get("grad_scaler")
    if amp == "fp16":
        if state is None:
            raise GradcliError(
                f"{where}: not a valid gradcli checkpoint: --amp fp16 and no grad_scaler"
            )
        update.load_scaler_state(state, growth_interval)


def restore_feed(path: str, checkpoint: dict[str, Any], feed: Feed, step: int) -> None:
    """Put ``feed`` where the checkpoint's run left its ``DataLoader``: the same epoch, the
    same batches taken, the loader's generator as it was when the epoch began."""
    where = f"--resume {path}"
    state = checkpoint.get("feed")
    if state is None:
        raise GradcliError(
            f"{where}: the checkpoint was saved by a run without --data; resume it without "
            "--data (or start this run afresh)"
        )
    if state["sums"].shape != (3,) or not state["sums"].is_floating_point():
        raise GradcliError(f"{where}: not a valid gradcli checkpoint: its feed is malformed")
    epoch, batch = state["epoch"], state["batch"]
    if (epoch == 0 and step != 0) or (epoch > 0 and (epoch - 1) * feed.batches + batch != step):
        raise GradcliError(
            f"{where}: the checkpoint's batches do not fit this run's: it stopped at batch "
            f"{batch} of epoch {epoch} (step {step}), and this run has {feed.batches} batches "
            "per epoch; resume with the checkpoint's --batch-size, --drop-last and data"
        )
    try:
        feed.load_state_dict(state)
    except (RuntimeError, ValueError) as error:
        raise GradcliError(f"{where}: its feed cannot be restored: {error}") from None
