"""Errors a user can cause and fix: each becomes one line on stderr and an exit status."""


class GradcliError(Exception):
    """Bad input or an impossible request; printed as one line, exit status 2."""

    exit_code = 2
