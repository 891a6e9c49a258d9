"""JSON lines: one object per shown step, full precision (schema in docs/pipelines.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from gradcli.records import DISTANCE
from gradcli.render.numbers import dumps, json_values

if TYPE_CHECKING:
    from gradcli.output import Output
    from gradcli.records import (
        CompareEpochRecord,
        CompareRecord,
        EpochRecord,
        MethodSummary,
        ParamRecord,
        RunInfo,
        StepRecord,
        Summary,
    )


def param_object(p: ParamRecord) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "shape": list(p.shape),
        "value": json_values(p.value),
        "grad": json_values(p.grad),
        "update": json_values(p.update),
    }
    if p.state is not None:
        obj["state"] = {key: json_values(v) for key, v in p.state.items()}
    return obj


def step_object(record: StepRecord) -> dict[str, Any]:
    obj: dict[str, Any] = {"step": record.step, "loss": record.loss, "lr": record.lr}
    if record.epoch is not None:  # --data: the epoch and the batch of it
        obj["epoch"] = record.epoch
        obj["batch"] = record.batch
    if record.grad_norm is not None:  # --clip-norm / --clip-value
        obj["grad_norm"] = record.grad_norm
        obj["clipped"] = record.clipped
    if record.scale is not None:  # --amp fp16: the loss scale, and whether the step was skipped
        obj["scale"] = record.scale
        obj["skipped"] = record.skipped
        if record.scaler is not None:  # with --state: the scaler's state after update()
            obj["scaler"] = dict(record.scaler)
    if record.evaluations is not None:  # LBFGS: how many times the step evaluated the loss
        obj["evaluations"] = record.evaluations
    if record.micro_losses is not None:  # --accumulate K
        obj["micro_losses"] = list(record.micro_losses)
        obj["micro_grad_norms"] = list(record.micro_grad_norms or ())
        obj["one_batch_ulps"] = record.one_batch_ulps
    obj["params"] = {p.name: param_object(p) for p in record.params}
    if record.explain:
        obj["explain"] = list(record.explain)
    if record.ranks is not None:  # gradcli ddp
        obj["ranks"] = [
            {
                "rank": r.rank,
                "loss": r.loss,
                "grads": {name: json_values(v) for name, v in r.grads.items()},
            }
            for r in record.ranks
        ]
        obj["max_param_diff_across_ranks"] = record.max_param_diff_across_ranks
        obj["all_reduces"] = record.all_reduces
    return obj


def epoch_object(record: EpochRecord) -> dict[str, Any]:
    """The end of an epoch: ``epoch_end`` tells it from a step's object."""
    return {
        "epoch_end": record.epoch,
        "step": record.step,
        "lr": record.lr,
        "train_loss": record.train_loss,
        "train_accuracy": record.train_accuracy,
        "val_loss": record.val_loss,
        "val_accuracy": record.val_accuracy,
    }


def compare_object(record: CompareRecord) -> dict[str, Any]:
    where = {} if record.epoch is None else {"epoch": record.epoch, "batch": record.batch}
    return {
        "step": record.step,
        "optimizer": record.optimizer,
        "label": record.label,
        "lr": record.lr,
        **where,  # --data: the epoch and the batch of it
        "manual_loss": record.manual_loss,
        "optim_loss": record.optim_loss,
        "max_abs_diff": record.max_abs_diff,
        "max_ulps": record.max_ulps,
        "bit_identical": record.bit_identical,
    }


def compare_epoch_object(record: CompareEpochRecord) -> dict[str, Any]:
    """One method at the end of an epoch: an epoch's object with the method's names."""
    obj = epoch_object(record.record)
    return {
        "epoch_end": obj.pop("epoch_end"),
        "step": obj.pop("step"),
        "optimizer": record.optimizer,
        "label": record.label,
        **obj,
    }


class JsonlSink:
    def __init__(self, out: TextIO, output: Output) -> None:
        self.out = out
        self.output = output

    def start(self, info: RunInfo) -> None:
        pass

    def step(self, record: StepRecord) -> None:
        self.out.write(dumps(step_object(record)) + "\n")
        self.out.flush()

    def epoch(self, record: EpochRecord) -> None:
        self.out.write(dumps(epoch_object(record)) + "\n")
        self.out.flush()

    def finish(self, summary: Summary) -> None:
        # The summary is words for a person; the records on stdout already hold the data.
        self.output.say(summary_line(summary))


class CompareJsonlSink:
    def __init__(self, out: TextIO, output: Output) -> None:
        self.out = out
        self.output = output

    def start(self, info: RunInfo) -> None:
        pass  # (a record names its run: optimizer, label, lr)

    def step(self, record: CompareRecord) -> None:
        self.out.write(dumps(compare_object(record)) + "\n")
        self.out.flush()

    def epoch(self, record: CompareEpochRecord) -> None:
        self.out.write(dumps(compare_epoch_object(record)) + "\n")
        self.out.flush()

    def finish(self, summaries: list[MethodSummary]) -> None:
        for line in compare_summary_lines(summaries):
            self.output.say(line)


def summary_line(summary: Summary) -> str:
    steps = summary.span()
    if summary.epochs is not None:
        return data_summary_line(summary)
    distance = summary.metrics.get(DISTANCE)  # (before the loss, which scripts read last)
    where = "" if distance is None else f", ends {distance:.3g} from the nearest minimum"
    line = f"gradcli: {steps}{where}, loss {summary.first_loss:.6g} -> {summary.final_loss:.6g}"
    return (
        line + clipping_summary(summary) + accumulation_summary(summary) + scaling_summary(summary)
    )


def data_summary_line(summary: Summary) -> str:
    """``gradcli: 115 steps (5 epochs), training loss 2.31 -> 0.0412, accuracy 99.2%;
    held out: loss 0.0913, accuracy 97.2%``."""
    epochs = f"{summary.epochs:.3g} epoch" + "s" * (summary.epochs != 1)
    line = (
        f"gradcli: {summary.span()} ({epochs}), training loss {summary.first_loss:.6g} -> "
        f"{summary.final_loss:.6g}"
    )
    metrics = summary.metrics
    if "train accuracy" in metrics:
        line += f", accuracy {metrics['train accuracy']:.1%}"
    if "val loss" in metrics:
        line += f"; held out: loss {metrics['val loss']:.6g}"
        if "val accuracy" in metrics:
            line += f", accuracy {metrics['val accuracy']:.1%}"
    return (
        line + clipping_summary(summary) + accumulation_summary(summary) + scaling_summary(summary)
    )


def clipping_summary(summary: Summary) -> str:
    """``; clipping fired on 37 of 100 steps`` (nothing without clipping)."""
    if summary.clip_fired is None:
        return ""
    return f"; clipping fired on {summary.clip_fired} of {summary.clip_steps} steps"


def scaling_summary(summary: Summary) -> str:
    """``; 3 of 20 steps skipped (inf/NaN gradients), loss scale 8192 at the end`` (nothing
    without --amp fp16)."""
    if summary.skipped is None:
        return ""
    return (
        f"; {summary.skipped} of {summary.clip_steps} steps skipped (inf/NaN gradients), "
        f"loss scale {summary.final_scale:g} at the end"
    )


def accumulation_summary(summary: Summary) -> str:
    """``; 4 micro-batches an update, vs one batch: max |difference| 3 ULPs on 5 steps``
    (the largest gap between the accumulated gradient and one batch's, over the shown
    steps whose micro-batches are equal in size; nothing without --accumulate)."""
    if summary.accumulate == 1:
        return ""
    line = f"; {summary.accumulate} micro-batches an update"
    gaps = [gap for gap in summary.one_batch_ulps if gap is not None]
    if not gaps:
        return line
    worst = max(gaps)
    same = " (bit-identical)" if worst == 0 else ""
    steps = f"{len(gaps)} step" + "s" * (len(gaps) != 1)
    return f"{line}, vs one batch: max |difference| {worst} ULPs{same} on {steps}"


def compare_summary_lines(summaries: list[MethodSummary]) -> list[str]:
    lines = []
    for s in summaries:
        same = (
            "bit-identical"
            if s.bit_identical
            else (f"max |manual - optim| {s.max_abs_diff:.3g} ({s.max_ulps} ULPs)")
        )
        if s.final is not None:
            lines.append(f"gradcli: {s.label}: {compare_data_summary(s)}, {same}")
            continue
        where = "" if s.distance is None else f", {s.distance:.3g} from the nearest minimum"
        loss = f"loss {s.losses[0]:.6g} -> {s.final_loss:.6g}{where}"
        lines.append(f"gradcli: {s.label}: {loss}, {same}")
    return lines


def target_text(accuracy: float) -> str:
    """``95%`` for 0.95, ``97.5%`` for 0.975."""
    return f"{accuracy * 100:g}%"


def compare_data_summary(s: MethodSummary) -> str:
    """``training loss 2.30 -> 0.0412, accuracy 99.2%; held out: loss 0.0913, accuracy
    97.2%; 95% held-out accuracy at epoch 3`` (on --data)."""
    assert s.final is not None
    final = s.final
    first = final.train_loss if s.first_loss is None else s.first_loss
    line = f"training loss {first:.6g} -> {final.train_loss:.6g}"
    if final.train_accuracy is not None:
        line += f", accuracy {final.train_accuracy:.1%}"
    if final.val_loss is not None:
        line += f"; held out: loss {final.val_loss:.6g}"
        if final.val_accuracy is not None:
            line += f", accuracy {final.val_accuracy:.1%}"
    if s.target_accuracy is not None:
        line += f"; {target_text(s.target_accuracy)} held-out accuracy " + reached_at(
            s.epochs_to_target, len(s.epochs)
        )
    if s.tol is not None:
        what = "held-out" if final.val_loss is not None else "training"
        line += f"; {what} loss <= {s.tol:g} " + reached_at(s.epochs_to_tol, len(s.epochs))
    return line


def reached_at(epoch: int | None, epochs: int) -> str:
    """``at epoch 3``, or ``not in 5 epochs``."""
    if epoch is not None:
        return f"at epoch {epoch}"
    return f"not in {epochs} epoch" + "s" * (epochs != 1)
