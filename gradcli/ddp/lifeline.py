"""A worker's tie to its launcher: it dies with the launcher, however the launcher ends —
SIGKILL and the OOM killer included, which no process can catch — so that no worker goes on
training and printing alone.

On Linux the kernel kills the worker when its parent dies (``prctl(PR_SET_PDEATHSIG)``);
the launcher may have died before the worker asked, so the worker then checks that its
parent is still the launcher. Where ``prctl`` is missing, a daemon thread polls
``os.getppid()`` and ends the process once the launcher is gone (an orphan is adopted by
another process). Torch-free: a worker ties itself before anything slow.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHANED = 128 + signal.SIGKILL  # the status of an orphan that ends itself, as if killed


def die_with(launcher: int, poll: float = 0.2) -> None:
    """From now on this process ends when ``launcher`` (its parent's pid) does; at once, if
    the launcher is gone already."""
    if not _parent_death_signal():
        threading.Thread(
            target=_watch, args=(launcher, poll), name="gradcli-lifeline", daemon=True
        ).start()
    if os.getppid() != launcher:  # it died before the tie was made
        os._exit(ORPHANED)


def _parent_death_signal() -> bool:
    """Ask the kernel for SIGKILL when the parent dies; whether it agreed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(launcher: int, poll: float) -> None:
    while os.getppid() == launcher:
        time.sleep(poll)
    os._exit(ORPHANED)
