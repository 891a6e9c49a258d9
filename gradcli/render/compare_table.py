"""compare's table for a person at a terminal, printed once all methods have run: each
method's losses (on --data: its training and held-out loss and accuracy) beside the gap
between the hand-written and the torch.optim path, then the loss curves."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from gradcli.pictures.drawing import draw, styled
from gradcli.pictures.plot import panels
from gradcli.render.caption import Caption
from gradcli.render.fit import fitted
from gradcli.render.jsonl import epoch_object, target_text
from gradcli.render.markup import escape
from gradcli.render.table import fmt, print_header
from gradcli.saved_runs import Run

if TYPE_CHECKING:
    from gradcli.records import (
        CompareEpochRecord,
        CompareRecord,
        Evaluated,
        MethodSummary,
        RunInfo,
    )


class CompareTableSink:
    """The comparison table and the loss curves, printed once all methods have run."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def start(self, info: RunInfo) -> None:
        """What every run shares (model, schedule, clipping, device, dtype, steps, data), as
        optim's header has it; the table below names each run's optimizer and settings."""
        print_header(self.console, info, optimizer=False)

    def step(self, record: CompareRecord) -> None:
        pass

    def epoch(self, record: CompareEpochRecord) -> None:
        pass

    def finish(self, summaries: list[MethodSummary]) -> None:
        if summaries and summaries[0].final is not None:
            self._finish_data(summaries)
            return
        table = Table(
            title="[bold]manual vs torch.optim[/]",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            caption=Caption(
                "losses: torch.optim path · max |manual − optim|: largest gap "
                "between the two paths' parameters over the run (0: bit-identical)"
            ),
            caption_justify="left",
        )
        tol = summaries[0].tol if summaries else None
        columns = ["optimizer", "lr", "final loss", "best loss"]
        columns += [] if tol is None else ["steps to tol"]  # without --tol: nothing to say
        for column in (*columns, "max |manual − optim|", "ULPs"):
            table.add_column(column)  # (no number is cut: see render/fit.py)
        for s in summaries:
            reached = (
                [] if tol is None else ["never" if s.steps_to_tol is None else str(s.steps_to_tol)]
            )
            gap = "0 (bit-identical)" if s.bit_identical else fmt(s.max_abs_diff)
            table.add_row(
                escape(s.label),
                f"{s.lr:g}",
                fmt(s.final_loss),
                fmt(s.best_loss),
                *reached,
                gap,
                str(s.max_ulps),
            )
        self.console.print(fitted(self.console, table))
        distances = [f"{s.label} {s.distance:.3g}" for s in summaries if s.distance is not None]
        if distances:  # a problem that knows its minima (problems/plane.py)
            self.console.print(
                "distance to the nearest minimum at the end: " + ", ".join(distances)
            )
        skipped = [f"{s.label} {_skipped(s)}" for s in summaries if s.skipped is not None]
        if skipped:  # --amp fp16
            self.console.print(
                "steps skipped (inf/NaN gradients), torch.optim path: " + ", ".join(skipped)
            )
        width = min(self.console.width, 100)
        pictures = panels(  # each loss at the step of the record that shows it
            {s.label: s.losses[:-1] for s in summaries},
            steps={s.label: list(range(1, len(s.losses))) for s in summaries},
            width=width,
        )
        for k, picture in enumerate(pictures):
            if k:
                self.console.print()
            self._curves(picture)

    def _curves(self, lines: list[str]) -> None:
        """A picture's lines, its marks styled (the markers it placed, not letters)."""
        for text in styled(lines):
            self.console.print(text, crop=True, overflow="ignore", no_wrap=True)

    def _finish_data(self, summaries: list[MethodSummary]) -> None:
        """On --data: each method's training and held-out loss and accuracy at the end (the
        accuracies for classes, the held-out ones where data is held out), the epochs it took
        to reach --target-accuracy / --tol, the gap between the two paths; then the training
        and the held-out loss per epoch, a curve per method."""
        finals = [s.final for s in summaries if s.final is not None]
        first = summaries[0]
        held_out = any(f.val_loss is not None for f in finals)
        accuracy = any(f.train_accuracy is not None for f in finals)
        columns: list[tuple[str, Callable[[MethodSummary, Evaluated], str]]] = [
            ("optimizer", lambda s, f: escape(s.label)),
            ("lr", lambda s, f: f"{s.lr:g}"),
            ("train loss", lambda s, f: _short(f.train_loss)),
        ]
        if accuracy:
            columns.append(("train acc", lambda s, f: _percent(f.train_accuracy)))
        if held_out:
            columns.append(("val loss", lambda s, f: _short(f.val_loss)))
        if held_out and accuracy:
            columns.append(("val acc", lambda s, f: _percent(f.val_accuracy)))
        notes = ["at the end, torch.optim path" + " · val: held out" * held_out]
        if first.target_accuracy is not None:
            target = target_text(first.target_accuracy)
            columns.append((f"epochs to {target}", lambda s, f: _reached(s.epochs_to_target)))
            notes.append(f"epochs to {target}: the first whose val acc is ≥ {target}")
        if first.tol is not None:
            tol, loss = f"{first.tol:g}", "val" if held_out else "train"
            columns.append((f"epochs to {tol}", lambda s, f: _reached(s.epochs_to_tol)))
            notes.append(f"epochs to {tol}: the first whose {loss} loss is ≤ {tol}")
        if first.skipped is not None:  # --amp fp16
            columns.append(("skipped", lambda s, f: _skipped(s)))
            notes.append("skipped: steps whose update was skipped (inf/NaN gradients)")
        columns.append(("manual vs optim", _gap))
        notes.append(
            "manual vs optim: the largest gap between the two paths' parameters over the run "
            "(identical: bit for bit)"
        )
        table = Table(
            title="[bold]manual vs torch.optim[/]",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            caption=Caption(" · ".join(notes)),
            caption_justify="left",
        )
        for header, _ in columns:
            table.add_column(header)
        for s in summaries:
            final = s.final
            assert final is not None
            table.add_row(*(cell(s, final) for _, cell in columns))
        self.console.print(fitted(self.console, table))
        runs = [Run(s.label, epochs=[epoch_object(e) for e in s.epochs]) for s in summaries]
        if all(run.epochs for run in runs):  # (a run shorter than an epoch has none)
            for picture in draw(runs, ["loss"], width=min(self.console.width, 100)):
                self.console.print()
                self._curves(picture)


def _short(x: float | None) -> str:
    """A loss in four significant digits (compare's table, where each column counts)."""
    return "—" if x is None else f"{x:.4g}"


def _percent(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def _reached(epoch: int | None) -> str:
    return "never" if epoch is None else str(epoch)


def _gap(s: MethodSummary, final: Evaluated) -> str:
    return "identical" if s.bit_identical else f"{s.max_abs_diff:.3g}, {s.max_ulps} ULPs"


def _skipped(s: MethodSummary) -> str:
    """``3 of 20``: the steps whose update the scaler skipped (--amp fp16)."""
    return f"{s.skipped} of {len(s.losses) - 1}"
