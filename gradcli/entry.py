"""The ``gradcli`` command's entry point, and the signals that come before gradcli can handle
them: while Python imports typer and torch, and while the interpreter shuts down. Ctrl-C,
SIGTERM or SIGHUP then end gradcli at once, with one line and 128 + the signal's number,
never a KeyboardInterrupt traceback from an import.

``install`` is the first thing the ``gradcli`` command does; a run's own handling
(``gradcli.train.interrupt``) takes over from it and hands back to it when the run is over.
Nothing is half-written then: no run has started, or it is over and its checkpoint written.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType  # (imported by Python's start-up already)

from gradcli.errors import STOPPING


def _end_now(signum: int, frame: FrameType | None) -> None:
    said = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    try:  # what the run produced goes out (the sinks write whole lines)  # noqa: SIM105
        sys.stdout.flush()
    except Exception:  # a closed pipe, or a write this very signal interrupted
        pass
    try:  # (contextlib is not imported yet, and this must be quick)  # noqa: SIM105
        os.write(2, f"gradcli: {said}\n".encode())
    except OSError:
        pass  # no stderr (a closed terminal): the status says it
    os._exit(128 + signum)


def install() -> None:
    """From now on, a stopping signal ends the process at once and quietly."""
    for signum in STOPPING:
        signal.signal(signum, _end_now)


def main() -> None:
    """The ``gradcli`` command: these handlers first, then the command line."""
    install()
    from gradcli import streams

    status = streams.prepare()
    if status is not None:
        raise SystemExit(status)
    from gradcli._startup import collector

    collector.pause()  # before Typer, rich and the commands are imported: a help screen's
    # imports made the collector walk them 30 times (5–24 ms; see _startup/collector.py)
    from gradcli.cli import main as command_line

    command_line()
