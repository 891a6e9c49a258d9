"""The picture files: ``--plot-file`` (and ``--report``) checked before a run, and written
atomically after it, with the umask's mode, so a reader never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gradcli.errors import GradcliError

FIGURE_SUFFIXES = (".svg", ".png", ".pdf")
REPORT_SUFFIXES = (".html", ".htm")


def check_target(
    path: str, option: str = "--plot-file", suffixes: tuple[str, ...] = FIGURE_SUFFIXES
) -> None:
    """Before the run: ``option`` names a file that can be written, ending in one of
    ``suffixes`` (the format)."""
    if not path.lower().endswith(suffixes):
        raise GradcliError(f"{option} {path}: the file must end in {', '.join(suffixes)}")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise GradcliError(f"{option} {path}: no such folder: {folder}")
    if Path(path).exists() and not Path(path).is_file():
        raise GradcliError(f"{option} {path}: not a regular file")


def write(path: str, content: bytes, option: str = "--plot-file") -> None:
    """Write the file atomically (a reader never sees half of it)."""
    folder = str(Path(path).resolve().parent)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".gradcli-", suffix=Path(path).suffix)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0o600, made what a new file gets
        with os.fdopen(fd, "wb") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise GradcliError(f"{option} {path}: cannot write it: {error.strerror}") from None


def _umask() -> int:
    """The process's umask (read by setting it, so set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
