"""User code — a model's module, its factory, its ``forward()`` — runs inside ``user_code``.

While it runs, its ``print`` goes to stderr (stdout carries data only: a jsonl or csv
stream must not get a stray line), and whatever ends it other than returning — an
exception, or ``sys.exit`` — becomes a ``UserCodeFailed``: one line naming the code and
what it did, exit status 2. ``sys.exit(0)`` in a factory is not a success of gradcli's,
and ``sys.exit(3)`` is not a divergence. Ctrl-C (KeyboardInterrupt) passes through as it is.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from gradcli.errors import GradcliError


class _MainThreadOnly:
    """stdout once user code has run: the main thread (gradcli's data) writes to stdout; a
    thread the user's code started, which may print at any moment later, writes to stderr,
    so no stray line lands in a JSON or CSV stream."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    @classmethod
    def around(cls, out: TextIO | None) -> TextIO | None:
        if out is None or isinstance(out, cls):
            return out
        return cls(out)  # type: ignore[return-value]

    def write(self, text: str) -> int:
        if threading.current_thread() is threading.main_thread() or sys.stderr is None:
            return self._out.write(text)
        return sys.stderr.write(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._out, name)


class UserCodeFailed(GradcliError):
    """A user's model code raised or called ``sys.exit``."""


def describe(error: BaseException) -> str:
    """``ValueError: boom``: an exception in one line (its message's first line)."""
    if isinstance(error, SystemExit):
        return f"sys.exit({error.code!r})"
    text = str(error).strip()
    first = text.splitlines()[0][:300] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


@contextmanager
def user_code(what: str) -> Iterator[None]:
    """Run the block as user code named ``what`` (``--model m.py:build: forward()``)."""
    stdout = sys.stdout
    if sys.stderr is not None:
        sys.stdout = sys.stderr
    try:
        yield
    except (GradcliError, KeyboardInterrupt):
        raise
    except SystemExit as e:
        raise UserCodeFailed(f"{what} called {describe(e)}") from None
    except BaseException as e:  # (an exception of the user's own that derives from
        # BaseException rather than Exception is still the user's code failing)
        raise UserCodeFailed(f"{what} raised {describe(e)}") from None
    finally:
        sys.stdout = _MainThreadOnly.around(stdout)
