"""Drives each command: spec -> engine -> records -> sink, with Ctrl-C and divergence."""

from __future__ import annotations

from gradcli._startup import collector
from gradcli.errors import Diverged, Interrupted
from gradcli.render import make_compare_sink, make_sink
from gradcli.render.listing import show_listing
from gradcli.spec import RunSpec
from gradcli.train.compare import Comparison
from gradcli.train.interrupt import interruptible
from gradcli.train.listing import listing
from gradcli.train.setup import prepare, save_checkpoint


def run_training(spec: RunSpec, path: str) -> None:
    spec = spec.with_every()
    training, info = prepare(spec, path)  # errors (e.g. no CUDA) surface before any output
    output = spec.output
    sink = make_sink(output)
    sink.start(info)
    if spec.show_code:
        show_listing(output, listing(training.update, spec.model, spec.steps))
    collector.resume()  # start-up is over
    with (
        interruptible() as interrupt,
        output.progress(spec.steps, f"gradcli {path}", thinned=spec.every > 1) as progress,
    ):
        training.should_stop = interrupt.is_set
        training.on_step = lambda step: progress(step - training.start)
        for record in training:
            with progress.aside():
                sink.step(record)
    if training.diverged:
        lr = info.lr
        raise Diverged(f"{training.diverged}; try a smaller --lr (this run used {lr:g})")
    last = training.start + spec.steps
    interrupted = training.stopped_at is not None and training.stopped_at < last
    if spec.save is not None:  # at the end of the run, and when Ctrl-C stopped it
        output.say(f"gradcli: saving checkpoint {spec.save}")
        save_checkpoint(training, spec)
    if interrupted:
        raise Interrupted(f"stopped after step {training.stopped_at} of {last}")
    sink.finish(training.summary())


def run_compare(specs: list[RunSpec], tol: float | None) -> None:
    comparison = Comparison(specs, tol)
    output = specs[0].output
    sink = make_compare_sink(output)
    collector.resume()  # start-up is over
    with interruptible() as interrupt:
        comparison.should_stop = interrupt.is_set
        for record in comparison:
            sink.step(record)
    if comparison.diverged is not None:
        raise Diverged(f"{comparison.diverged}; try a smaller --lr")
    if comparison.stopped_at is not None:
        raise Interrupted(f"stopped after step {comparison.stopped_at} of {specs[0].steps}")
    sink.finish(comparison.summaries)
