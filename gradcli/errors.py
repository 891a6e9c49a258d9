"""Ways a run can end other than success: each is one line on stderr and an exit status.

| status | meaning |
| --- | --- |
| 2 | bad input or an impossible request (``gradcli: error: ...``) |
| 3 | the run diverged: the loss or a gradient became non-finite |
| 74 | the output could not be written (a full disk, ``> /dev/full``): EX_IOERR |
| 130 | interrupted by Ctrl-C (SIGINT) |
| 141 | stdout was closed early (``| head``): 128 + SIGPIPE, as other Unix tools |
"""

EXIT_CLOSED_PIPE = 141
EXIT_IO_ERROR = 74  # sysexits.h's EX_IOERR


class GradcliError(Exception):
    """Bad input or an impossible request; printed as one line, exit status 2."""

    exit_code = 2
    label = "error"


class Diverged(GradcliError):
    exit_code = 3
    label = "diverged"


class Interrupted(GradcliError):
    exit_code = 130
    label = "interrupted"
