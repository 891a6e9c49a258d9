"""The standard streams as the ``gradcli`` command finds them, made fit for its promises
(stdout carries data, stderr one line per message) before anything else runs:

- a closed stdout (``>&-``): nothing can carry the data: one line on stderr, exit 74;
- a closed stderr (``2>&-``): messages are dropped (the exit status still tells), never
  written to stdout, where Python's ``print(file=None)`` would put them; so are those of
  the processes gradcli starts (the ddp workers), which inherit the /dev/null put in its place;
- a closed stdin: /dev/null, so that no file gradcli opens gets descriptor 0, 1 or 2;
- stderr in an encoding that lacks a character (``PYTHONIOENCODING=ascii``): escaped
  (``\\xb7``), so that a message still gets out; stdout stays strict, and a character it
  cannot encode is one line and exit 74 (``encoding_failure``), never a corrupt record;
- ``COLUMNS`` or ``LINES`` that is not a positive whole number (``COLUMNS=0``) is ignored,
  as if unset, instead of a table of width 0 that prints nothing.
"""

from __future__ import annotations

import io
import os
import sys

from gradcli.errors import EXIT_IO_ERROR


def prepare() -> int | None:
    """Ready the streams; the exit status to end with at once, or None to go on."""
    closed = [fd for fd in (0, 1, 2) if not _is_open(fd)]
    for _ in closed:  # the lowest free descriptor first: each closed one gets its number back
        # inheritable, as a standard stream is: a process gradcli starts (a ddp worker)
        # finds it open, instead of closed and then taken by a file it opens
        os.set_inheritable(os.open(os.devnull, os.O_RDWR), True)
    if 2 in closed or sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 (/dev/null, for the process)
    elif isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(errors="backslashreplace")
    for name in ("COLUMNS", "LINES"):
        value = os.environ.get(name)
        if value is not None and not (value.isdigit() and int(value) > 0):
            del os.environ[name]
    if 1 in closed or sys.stdout is None:
        print("gradcli: error: cannot write the output: stdout is closed", file=sys.stderr)
        return EXIT_IO_ERROR
    return None


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def encoding_failure(error: UnicodeEncodeError) -> str:
    """The one line for data that stdout's encoding cannot carry."""
    character = error.object[error.start : error.end] if isinstance(error.object, str) else ""
    encoding = getattr(sys.stdout, "encoding", None) or error.encoding
    return (
        f"gradcli: error: cannot write the output: stdout's encoding {encoding} has no "
        f"{character!r}; set PYTHONIOENCODING=utf-8"
    )
