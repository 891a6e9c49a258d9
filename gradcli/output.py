"""Where output goes and how it looks: one set of output options for every command.

Data goes to stdout, words (summaries, warnings, progress) to stderr. ``--format auto`` is a
table on a terminal and JSON lines otherwise. Styling follows ``--color/--no-color``, then
``NO_COLOR`` (no styling at all, bold included), then rich's own detection (``TERM=dumb``
and pipes get none).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console

MACHINE_FORMATS = ("jsonl", "csv", "tsv")


@dataclass(frozen=True)
class Output:
    format: str = "auto"
    quiet: bool = False
    color: bool | None = None

    def resolved_format(self, stream: TextIO | None = None) -> str:
        """The one place ``auto`` is decided: a table on a terminal, JSON lines otherwise."""
        if self.format != "auto":
            return self.format
        return "table" if (stream or sys.stdout).isatty() else "jsonl"

    def console(self, stream: TextIO) -> Console:
        PipeConsole = _pipe_console()
        if self.color is False or (self.color is None and os.environ.get("NO_COLOR")):
            return PipeConsole(file=stream, color_system=None, highlight=False)
        if self.color:
            return PipeConsole(file=stream, force_terminal=True, highlight=False)
        return PipeConsole(file=stream, highlight=False)

    def say(self, line: str) -> None:
        """A message for a person, on stderr; nothing with --quiet."""
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)

    @contextmanager
    def progress(self, total: int, description: str, *, thinned: bool) -> Iterator[Progress]:
        """A progress bar on stderr, only where it helps: stderr is an interactive terminal,
        and the steps themselves are not all being printed there (``--every`` or a pipe)."""
        to_terminal = self.resolved_format() == "table" and sys.stdout.isatty()
        if self.quiet or not sys.stderr.isatty() or (to_terminal and not thinned) or total == 0:
            yield Progress()  # (decided before rich is imported: pipelines never pay for it)
            return
        stderr = self.console(sys.stderr)
        if not stderr.is_interactive:  # TERM=dumb
            yield Progress()
            return

        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        with RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield Progress(lambda step: bar.update(task, completed=step))


class Progress:
    """Told each finished step; does nothing unless a bar is showing."""

    def __init__(self, update: object = None) -> None:
        self.update = update

    def __call__(self, step: int) -> None:
        if callable(self.update):
            self.update(step)


@cache
def _pipe_console() -> type[Console]:
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 by itself; let the CLI end the run the documented way (141)
            self.quiet = True
            raise BrokenPipeError

    return PipeConsole
