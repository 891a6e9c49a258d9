"""Lines of text read from any readable stream, each of a bounded length. No torch.

A file, a pipe, a FIFO (``mkfifo``), ``/dev/stdin``, the shell's ``<(gradcli ...)``
(``/dev/fd/63``): whatever ``open`` can read is read, one line at a time, never more than
``MAX_LINE`` bytes of it at once. An endless line (``< /dev/zero``) is then one line on stderr
and exit 2, where reading it whole grew until ``MemoryError``. What cannot be opened says the
system's own reason (no such file, a folder, permission denied, file name too long), and a
name too long to print is shortened in the message.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import BinaryIO

from gradcli.errors import GradcliError
from gradcli.printable import printable

STDIN = "-"
# gradcli's largest record is about 2 KB per parameter tensor (its values, gradient and update
# as at most 8 numbers or their statistics, an optimizer's state, a ddp run's ranks): 64 MiB
# holds a model of some 30,000 tensors, more than any model has
MAX_LINE = 64 * 2**20
SHOWN = 200  # the most characters of a name a message shows


def shown(source: str) -> str:
    """``source`` as a message names it: ``stdin`` for ``-``, control characters escaped,
    a name longer than ``SHOWN`` characters cut, with its length."""
    if source == STDIN:
        return "stdin"
    if len(source) <= SHOWN:
        return printable(source)
    return f"{printable(source[:SHOWN])}… ({len(source)} characters)"


@contextlib.contextmanager
def opened(source: str) -> Iterator[BinaryIO]:
    """``source`` opened for reading bytes (``-``: stdin); exit 2 with the reason when it
    cannot be opened."""
    if source == STDIN:
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # started with stdin closed (<&-): Python's sys.stdin is None
            raise GradcliError("stdin: cannot read it: stdin is closed")
        yield stream
        return
    try:
        stream = open(source, "rb")  # noqa: SIM115 (closed below, after the reading)
    except OSError as error:
        raise GradcliError(f"{shown(source)}: cannot read it: {_reason(error)}") from None
    with stream:
        yield stream


def _reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "a folder"
    return error.strerror or type(error).__name__


def _size(count: int) -> str:
    return f"{count // 2**20} MiB" if count % 2**20 == 0 else f"{count} bytes"


class NotText(GradcliError):
    """A line whose bytes are not UTF-8: its number, its bytes (``raw``; of line 1, the
    file's start) and what is wrong with them (``detail``)."""

    def __init__(self, name: str, line: int, raw: bytes, detail: str) -> None:
        super().__init__(f"{name}:{line}: {detail}")
        self.line = line
        self.raw = raw
        self.detail = detail


def lines(source: str) -> Iterator[str]:
    """The lines of ``source`` (``-``: stdin) as text, without their line ends. A line over
    ``MAX_LINE`` bytes, one that is not UTF-8, or a failed read is exit 2 naming the line."""
    name = shown(source)
    with opened(source) as stream:
        number = 0
        while True:
            number += 1
            try:
                raw = stream.readline(MAX_LINE + 1)
            except OSError as error:
                raise GradcliError(f"{name}: cannot read it: {_reason(error)}") from None
            if not raw:
                return
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                raise GradcliError(
                    f"{name}:{number}: a line longer than {_size(MAX_LINE)}, the most a line "
                    "may hold (gradcli's records are far shorter)"
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                byte, column = raw[error.start], error.start + 1
                detail = f"not UTF-8 text (byte 0x{byte:02x} at column {column})"
                raise NotText(name, number, raw, detail) from None
            yield text.rstrip("\r\n")
