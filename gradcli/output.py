"""Where output goes and how it looks: one set of output options for every command.

Data goes to stdout, words (summaries, warnings, progress) to stderr. ``--format auto`` is a
table on a terminal and JSON lines otherwise. Styling follows ``--color/--no-color``, then
``NO_COLOR`` (no styling at all, bold included), then rich's own detection (``TERM=dumb``
and pipes get none).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichProgress


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
        if not stream.isatty():  # a file or a pipe: rich's padding at the ends of lines goes
            stream = _Trimmed(stream)  # type: ignore[assignment]
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
    def progress(
        self, total: int, description: str, *, thinned: bool, start: int = 0
    ) -> Iterator[Progress]:
        """A progress bar on stderr, only where it helps: stderr is an interactive terminal,
        and the steps themselves are not all being printed (``--every``, or stdout is not a
        terminal). Where stdout is a terminal too, the bar steps aside for each step printed
        there (``Progress.aside``), so a table never starts on the bar's line. ``total``: the
        step the run ends at; ``start``: the step it starts from (a resumed run's bar is at the
        steps done before, ``2741/200000``)."""
        shared = sys.stdout.isatty()
        if self.quiet or not sys.stderr.isatty() or (shared and not thinned) or total == start:
            yield Progress()  # (decided before rich is imported: pipelines never pay for it)
            return
        stderr = self.console(sys.stderr)
        if not stderr.is_interactive:  # TERM=dumb
            yield Progress()
            return

        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
        )
        task = bar.add_task(description, total=total, completed=start)
        progress = Progress(lambda step: bar.update(task, completed=step), None)
        # Drawn only once the run has lasted BAR_DELAY: a short run, or one whose reader
        # stops early (| head -3, writing to the same terminal), never leaves a bar for the
        # reader's lines to land on. Erased (transient) however the run ends.
        started = time.monotonic()

        def update(step: int) -> None:
            if progress.bar is None and not bar.live.is_started:
                if time.monotonic() - started < BAR_DELAY:
                    return
                bar.start()
                progress.bar = bar if shared else None
            bar.update(task, completed=step)

        progress.update = update
        try:
            yield progress
        finally:
            if bar.live.is_started:
                bar.stop()


BAR_DELAY = 0.5  # seconds a run lasts before its progress bar is drawn


class Progress:
    """Told each finished step; does nothing unless a bar is showing."""

    def __init__(self, update: object = None, bar: RichProgress | None = None) -> None:
        self.update = update
        self.bar = bar  # a bar on the terminal that stdout writes to as well

    def __call__(self, step: int) -> None:
        if callable(self.update):
            self.update(step)

    @contextmanager
    def aside(self) -> Iterator[None]:
        """Write to stdout with the bar out of the way: it is erased before, and drawn again
        below what was written (the bar and the data share the screen, not the stream)."""
        if self.bar is None:
            yield
            return
        self.bar.stop()  # transient: the bar's lines are erased
        try:
            yield
        finally:
            sys.stdout.flush()
            self.bar.start()


class _Trimmed:
    """A text stream that drops the spaces at the end of every line written to it (rich pads
    each line of a table to the table's width; in a file they are noise for diff and grep).
    Spaces at the end of a write are held back until the next write shows what follows."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.spaces = ""

    def write(self, text: str) -> int:
        held = self.spaces + text
        body = held.rstrip(" ")
        self.spaces = held[len(body) :]
        self.stream.write(_TRAILING.sub(lambda m: m.group().replace(" ", ""), body))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno, ...
        return getattr(self.stream, name)


_TRAILING = re.compile(r"(?:\x1b\[[0-9;]*m| )+(?=\n)")  # spaces, and styles among them


@cache
def _pipe_console() -> type[Console]:
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 by itself; let the CLI end the run the documented way (141)
            self.quiet = True
            raise BrokenPipeError

    return PipeConsole
