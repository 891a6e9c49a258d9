"""``--plot`` and ``--plot-file`` on optim, manual and compare: what was asked, checked on the
command line before the run (and before torch is imported)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gradcli.errors import GradcliError
from gradcli.pictures import drawing as drawn
from gradcli.pictures import files

if TYPE_CHECKING:
    from torch import nn

COMPARE_KINDS = ("loss", "path")


@dataclass(frozen=True)
class Request:
    """The pictures asked for: ``kinds`` on the terminal, a ``file`` (a figure), a ``report``
    (an HTML page) and the ``command`` line it names."""

    kinds: tuple[str, ...] = ()
    file: str | None = None
    report: str | None = None
    command: str = ""

    @classmethod
    def of(
        cls,
        plot: Sequence[str] | None,
        plot_file: str | None,
        report: str | None = None,
        command: str = "",
    ) -> Request | None:
        """From the options; None when none was given. Bad values are exit 2 here,
        before anything runs."""
        kinds = drawn.parse_kinds(plot)
        if plot_file is not None:
            files.check_target(plot_file)
        if report is not None:
            files.check_target(report, "--report", files.REPORT_SUFFIXES)
        if not kinds and plot_file is None and report is None:
            return None
        return cls(kinds, plot_file, report, command)

    def file_kinds(self, two_elements: bool, compare: bool) -> tuple[str, ...]:
        """What the file shows: --plot's pictures, else all that apply."""
        if self.kinds:
            return self.kinds
        return ("loss", *(["path"] if two_elements else []), *([] if compare else ["grad-norm"]))

    def check(self, problem: nn.Module, model: str) -> None:
        if "path" in self.kinds:
            from gradcli.problems.plane import require_two

            require_two(problem, model)

    def check_compare(self, problem: nn.Module, model: str) -> None:
        for kind in self.kinds:
            if kind not in COMPARE_KINDS:
                raise GradcliError(
                    f"--plot {kind}: gradcli compare draws {', '.join(COMPARE_KINDS)}; "
                    f"for {kind}, run gradcli optim or manual with --plot {kind}"
                )
        self.check(problem, model)
