"""Rich tables for a person at a terminal: one table per shown step, then a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from gradcli.optimizers.catalog import plain
from gradcli.records import Stats, Values
from gradcli.render.caption import Caption
from gradcli.render.fit import fitted
from gradcli.render.jsonl import accumulation_summary, scaling_summary
from gradcli.render.markup import escape  # names come from the user: x[/] is not markup

if TYPE_CHECKING:
    from gradcli.records import (
        EpochRecord,
        RunInfo,
        StepRecord,
        Summary,
    )

STEP_CAPTION = "loss, grad: before this step's update · value: after it · update = after − before"
START_CAPTION = "initial parameters, before any update"


def fmt(x: float) -> str:
    return f"{x:.6g}"


def shown(v: Values | None) -> str | Table:
    if v is None:
        return "—"
    if isinstance(v, Stats):  # a grid: a label never wraps away from its number
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        for label, x in [("norm", v.norm), ("mean", v.mean), ("min", v.min), ("max", v.max)]:
            grid.add_row(label, fmt(x))
        return grid
    return "[" + ", ".join(fmt(x) for x in v) + "]"


def shape(dims: tuple[int, ...]) -> str:
    return "×".join(map(str, dims)) or "scalar"


def state_table(record: StepRecord) -> Table:
    table = Table(
        title="optimizer state after the update", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("parameter", style="bold", no_wrap=True)
    table.add_column("key", no_wrap=True)
    table.add_column("value")
    for p in record.params:
        for key, value in (p.state or {}).items():
            table.add_row(escape(p.name), key, shown(value))
    return table


def print_header(console: Console, info: RunInfo, optimizer: bool = True) -> None:
    """What the run is, above its tables: ``gradcli optim · model mlp · sgd lr=1 ·
    StepLR(step_size=30) · clip_grad_norm_(max_norm=1, norm_type=2) · cpu float32 · 100
    steps``, and with --data the data and its batches. ``optimizer``: False for compare,
    whose table has a row per optimizer."""
    hyper = "".join(
        f" {k}={plain(v)}" for k, v in info.hyperparameters.items() if v not in (0, False, None)
    )
    run = f" · {info.optimizer} lr={info.lr:g}{hyper}" if optimizer else ""
    steps = f"{info.steps} step" + ("" if info.steps == 1 else "s")
    extras = "".join(
        f" · {escape(what)}"
        for what in (info.schedule, info.clipping, info.scaler)
        if what is not None
    )
    console.print(
        f"[bold]gradcli {info.command}[/] · model {escape(info.model)}{run}{extras} · "
        f"{info.device} {info.dtype} · {steps}"
    )
    if info.data is not None:
        console.print(f"data {escape(info.data)}")
        console.print(escape(info.batches or ""))


class TableSink:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.steps = 0
        self.scheduled = False
        self.legend_shown = False  # the legend of the columns goes under the first step only

    def start(self, info: RunInfo) -> None:
        self.steps = info.steps
        self.scheduled = info.schedule is not None
        print_header(self.console, info)

    def step(self, record: StepRecord) -> None:
        loss = "" if record.loss is None else f"   loss {fmt(record.loss)}"
        if record.ranks is not None:  # gradcli ddp
            loss += " (mean over ranks)" if loss else ""
        if self.scheduled and record.lr is not None:  # the lr this step's update used
            loss += f"   lr {fmt(record.lr)}"
        if record.grad_norm is not None:  # the total norm before clipping
            loss += f"   grad norm {fmt(record.grad_norm)}" + " (clipped)" * bool(record.clipped)
        if record.scale is not None:  # --amp fp16: the loss scale the step's backward used
            loss += f"   scale {record.scale:g}" + " (skipped: inf/NaN grad)" * bool(record.skipped)
        if record.evaluations is not None:  # LBFGS: the loss evaluated this many times
            loss += f"   {record.evaluations} evaluation" + "s" * (record.evaluations != 1)
        if record.micro_losses is not None:  # --accumulate K
            loss += f"   {len(record.micro_losses)} micro-batches"
            if record.one_batch_ulps is not None:
                loss += f", vs one batch: max |difference| {record.one_batch_ulps} ULPs"
        if record.step == 0:
            caption = START_CAPTION
        else:
            caption = "" if self.legend_shown else STEP_CAPTION
            self.legend_shown = True
        ranks = record.ranks or ()
        if record.ranks is not None:
            caption += (
                "\n" * bool(caption) + "parameters identical on every rank: max |difference| "
                f"{fmt(record.max_param_diff_across_ranks or 0.0)}"
            )
            if record.micro_losses is not None and record.all_reduces is not None:
                times = "once" if record.all_reduces == 1 else f"{record.all_reduces} times"
                caption += (
                    f"\ngradients all-reduced {times} for {len(record.micro_losses)} micro-batches"
                )
        where = "" if record.epoch is None else f" · epoch {record.epoch} batch {record.batch}"
        table = Table(
            title=f"[bold]step {record.step}/{self.steps}[/]{where}{loss}",
            title_justify="left",
            caption=Caption(caption) if caption else None,  # wraps between entries
            caption_justify="left",
            box=box.SIMPLE_HEAD,
        )
        table.add_column("parameter", style="bold", no_wrap=True)
        table.add_column("shape", no_wrap=True)
        table.add_column("value")
        for r in ranks:
            table.add_column(f"rank {r.rank} grad\n(loss {r.loss:.4g})")
        table.add_column("averaged grad" if ranks else "grad")
        table.add_column("update")
        for p in record.params:
            own = [shown(r.grads[p.name]) for r in ranks]
            table.add_row(
                escape(p.name), shape(p.shape), shown(p.value), *own, shown(p.grad), shown(p.update)
            )
        self.console.print(fitted(self.console, table))
        if any(p.state for p in record.params):
            self.console.print(fitted(self.console, state_table(record)))
        if record.scaler is not None:  # --state with --amp fp16
            scaler = record.scaler
            self.console.print(
                f"scaler state after update(): scale {scaler['scale']:g}, growth tracker "
                f"{scaler['_growth_tracker']:g}"
            )
        for line in record.explain:
            element, _, parts = line.partition(": ")
            self.console.print(f"[bold]{escape(element)}[/]")
            for part in parts.split("; "):  # a long formula wraps under its own indentation
                self.console.print(Padding(Text(part), (0, 0, 0, 2)))
        if caption or record.explain or any(p.state for p in record.params) or record.scaler:
            self.console.print()  # (a table without a caption ends on a blank line itself)

    def epoch(self, record: EpochRecord) -> None:
        """One line at the end of an epoch: training and held-out loss and accuracy."""
        line = f"[bold]epoch {record.epoch}[/] (step {record.step})   training loss " + fmt(
            record.train_loss
        )
        if record.train_accuracy is not None:
            line += f", accuracy {record.train_accuracy:.1%}"
        if record.val_loss is not None:
            line += f"   held out: loss {fmt(record.val_loss)}"
            if record.val_accuracy is not None:
                line += f", accuracy {record.val_accuracy:.1%}"
        if self.scheduled and record.lr is not None:
            line += f"   lr {fmt(record.lr)}"
        self.console.print(line)
        self.console.print()

    def finish(self, summary: Summary) -> None:
        table = Table(
            title="[bold]summary[/]", title_justify="left", box=box.SIMPLE_HEAD, show_header=False
        )
        table.add_column("what", style="bold")
        table.add_column("value")
        resumed = summary.span().removeprefix("steps ")
        table.add_row("steps", resumed if summary.resumed_from else str(summary.steps))
        if summary.epochs is not None:
            table.add_row("epochs", f"{summary.epochs:.3g}")
        data = "training " if summary.epochs is not None else ""
        table.add_row(f"{data}loss at start", fmt(summary.first_loss))
        table.add_row(f"{data}loss at end", fmt(summary.final_loss))
        for name, metric in summary.metrics.items():
            percent = summary.epochs is not None and name.endswith("accuracy")
            shown_metric = f"{metric:.2%}" if percent else fmt(metric)
            table.add_row(escape(name), shown_metric)
        if summary.clip_fired is not None:
            fired = f"fired on {summary.clip_fired} of {summary.clip_steps} steps"
            table.add_row("clipping", fired)
        if summary.accumulate != 1:
            table.add_row("accumulation", accumulation_summary(summary).removeprefix("; "))
        if summary.skipped is not None:
            table.add_row("loss scaling", scaling_summary(summary).removeprefix("; "))
        self.console.print(fitted(self.console, table))
        if summary.reference:
            ref = Table(box=box.SIMPLE_HEAD)
            ref.add_column("parameter", style="bold", no_wrap=True)
            ref.add_column("learned")
            ref.add_column(summary.reference_label)
            ref.add_column("max |diff|")
            for name, r in summary.reference.items():
                ref.add_row(escape(name), shown(r.learned), shown(r.target), fmt(r.max_abs_diff))
            self.console.print(fitted(self.console, ref))
