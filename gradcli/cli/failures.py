"""Every way a command can end, turned into one line on stderr and an exit status, in one place.

A closed pipe (``| head``) exits 141 quietly; stdout that cannot take the data (a full disk,
``/dev/full``, an encoding without a character) 74; a ``GradcliError`` its own status (2 for
bad input, 3 for divergence, ...); a click usage error 2, with the command's ``--help`` named;
an interrupt 128 + the signal's number. ``GradcliGroup`` is the Typer group class of the app.
No torch here.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from gradcli.cli.parsing import before_parsing
from gradcli.errors import EXIT_CLOSED_PIPE, EXIT_IO_ERROR, GradcliError
from gradcli.streams import encoding_failure

try:  # typer >= 0.29 vendors click; older releases raise click's own exceptions
    from typer import TyperException as _CommandLineError
except ImportError:  # pragma: no cover
    from click import ClickException as _CommandLineError


ARGS_KEY = "gradcli.args"


def command_line(ctx: Any) -> str:
    """The command line that started this run, quoted as a shell would take it."""
    import shlex

    return shlex.join(["gradcli", *ctx.meta.get(ARGS_KEY, [])])


class GradcliGroup(TyperGroup):
    """Turns every way a run can end into one line on stderr and an exit status."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(
                args, prog_name or "gradcli", complete_var, standalone_mode=False, **extra
            )
            sys.stdout.flush()  # a closed pipe must show up here, not at interpreter exit
            if code == 130:  # Ctrl-C before the run loop (typer turns it into Exit(130))
                code = _fail("gradcli: interrupted", 130)
        except (BrokenPipeError, _ClosedPipe):
            code = _closed_pipe()
        except SystemExit as error:  # rich ends a closed pipe with exit 1 itself (--help | head)
            if not isinstance(error.__context__, BrokenPipeError):
                raise
            code = _closed_pipe()
        except GradcliError as error:
            code = _fail(f"gradcli: {error.label}: {error}", error.exit_code)
        except _CommandLineError as error:
            ctx = getattr(error, "ctx", None)
            where = ctx.command_path if ctx is not None else self._command_path(args)
            message = " ".join(error.format_message().split())
            code = _fail(
                f"gradcli: error: {message} (see '{where} --help')", getattr(error, "exit_code", 2)
            )
        except (typer.Abort, KeyboardInterrupt, _StoppedNow) as error:
            code = _fail("gradcli: interrupted", 128 + getattr(error, "signum", 2))
        except UnicodeEncodeError as error:  # stdout's encoding lacks a character of the data
            _drop_stdout()
            code = _fail(encoding_failure(error), EXIT_IO_ERROR)
        except OSError as error:  # stdout could not take the data: a full disk, /dev/full
            _drop_stdout()
            reason = error.strerror or type(error).__name__
            code = _fail(f"gradcli: error: cannot write the output: {reason}", EXIT_IO_ERROR)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code

    def _command_path(self, args: Sequence[str] | None) -> str:
        """``gradcli optim`` for an error that comes without its context (an option missing
        its value is found by the parser, before the command's context exists)."""
        given = sys.argv[1:] if args is None else args
        names = self.list_commands(None)  # type: ignore[arg-type]  (no context yet)
        name = next((a for a in given if a in names), None)
        return "gradcli" if name is None else f"gradcli {name}"

    def make_context(self, info_name: str | None, args: list[str], *rest: Any, **extra: Any) -> Any:
        """The context, and in its ``meta`` the arguments as given (``command_line``)."""
        given = list(args)
        ctx = super().make_context(info_name, args, *rest, **extra)
        ctx.meta[ARGS_KEY] = given
        return ctx

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        before_parsing(self, ctx)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            before_parsing(command, ctx)
        return name, command, rest

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as error:
            # typer would print nothing and exit 1; gradcli documents 141
            raise _ClosedPipe from error
        except KeyboardInterrupt as error:  # typer would make it exit 130, whatever the signal
            raise _StoppedNow(getattr(error, "signum", 2)) from None


class _ClosedPipe(Exception):
    """stdout's reader went away."""


class _StoppedNow(Exception):
    """A second signal stopped the run at once (typer turns a KeyboardInterrupt into 130)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _fail(line: str, code: int) -> int:
    try:
        sys.stdout.flush()  # what was produced goes out before the last word
    except BrokenPipeError:
        return _closed_pipe()
    except OSError:  # a terminal gone (SIGHUP): what is left cannot be written
        _drop_stdout()
    with contextlib.suppress(OSError):  # stderr gone too (a closed terminal): the status tells
        print(line, file=sys.stderr)
    return code


def _closed_pipe() -> int:
    """The reader went away (``| head``): stop quietly."""
    _drop_stdout()
    return EXIT_CLOSED_PIPE


def _drop_stdout() -> None:
    """Whatever is still buffered for stdout is dropped, so that the flush at interpreter
    exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (in-process tests)
