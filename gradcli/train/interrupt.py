"""Ctrl-C, SIGTERM and SIGHUP during a run: finish the current step, flush what was
produced, write the checkpoint, then stop with 128 + the signal's number (130, 143, 129).

SIGTERM is what ``timeout``, ``kill`` and batch schedulers send, SIGHUP what a closed
terminal sends: both end the run as Ctrl-C does, so no ``--save`` progress is lost. A second
signal stops at once (KeyboardInterrupt), for a step that takes too long — except while a
checkpoint is being written (``deferred``): that write is never cut short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from gradcli.errors import STOPPING, Interrupted

Handler = Callable[[int, FrameType | None], None]


class StopRequest(threading.Event):
    """Set by the first stopping signal; ``signum`` says which."""

    signum: int = signal.SIGINT

    def ask(self, signum: int) -> None:
        self.signum = signum
        self.set()


class StopNow(KeyboardInterrupt):
    """A second signal: stop at once (a KeyboardInterrupt, which no ``except Exception``
    swallows), with 128 + that signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def interruptible() -> Iterator[StopRequest]:
    """A request that is set by the first SIGINT, SIGTERM or SIGHUP while the block runs."""
    requested = StopRequest()

    def handler(signum: int, frame: FrameType | None) -> None:
        if requested.is_set():
            raise StopNow(signum)
        requested.ask(signum)

    with _handling(handler):
        yield requested


@contextmanager
def deferred(already: StopRequest | None = None) -> Iterator[None]:
    """Run the block (a checkpoint's write) to its end whatever signals come; then, if one
    came, or ``already`` was set, stop: Interrupted, with that signal's exit status."""
    requested = StopRequest()
    with _handling(lambda signum, frame: requested.ask(signum)):
        yield
    for asked in (already, requested):
        if asked is not None and asked.is_set():
            raise Interrupted("stopped once the checkpoint was written", asked.signum)


@contextmanager
def ignored(*signums: int) -> Iterator[None]:
    """``signums`` ignored while the block runs; processes it starts inherit that
    (``gradcli ddp``'s workers, so that a Ctrl-C while they import torch is the launcher's)."""
    with _handling(signal.SIG_IGN, signums):
        yield


@contextmanager
def _handling(
    handler: Handler | signal.Handlers, signums: tuple[int, ...] = STOPPING
) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)
