"""Ways a run can end other than success: each is one line on stderr and an exit status.

| status | meaning |
| --- | --- |
| 2 | bad input or an impossible request (``gradcli: error: ...``) |
| 3 | the run diverged: the loss or a gradient became non-finite |
| 74 | the output could not be written (a full disk, ``> /dev/full``): EX_IOERR |
| 129, 130, 143 | stopped by SIGHUP, Ctrl-C (SIGINT), SIGTERM: 128 + the signal's number |
| 141 | stdout was closed early (``| head``): 128 + SIGPIPE, as other Unix tools |
"""

import difflib
import signal
from collections.abc import Iterable

EXIT_CLOSED_PIPE = 141
EXIT_IO_ERROR = 74  # sysexits.h's EX_IOERR
# the signals that stop gradcli: at once during start-up (entry.py), after the current step
# during a run (train/interrupt.py)
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class GradcliError(Exception):
    """Bad input or an impossible request; printed as one line, exit status 2."""

    exit_code = 2
    label = "error"


class Diverged(GradcliError):
    exit_code = 3
    label = "diverged"


class Interrupted(GradcliError):
    """Stopped by a signal (Ctrl-C's SIGINT unless told): exit status 128 + its number."""

    exit_code = 130
    label = "interrupted"

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        if signum != signal.SIGINT:
            message += f" ({signal.Signals(signum).name})"
        super().__init__(message)
        self.exit_code = 128 + signum


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean adam?)`` for the choice closest to ``value``, or nothing."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""
