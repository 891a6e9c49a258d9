"""Drives each command: spec -> engine -> records -> sink, with Ctrl-C and divergence."""

from __future__ import annotations

from gradcli._startup import collector
from gradcli.errors import Diverged, Interrupted
from gradcli.render import make_compare_sink, make_sink
from gradcli.runs_io import Run
from gradcli.spec import RunSpec
from gradcli.train import drawing
from gradcli.train.compare import Comparison
from gradcli.train.interrupt import interruptible
from gradcli.train.setup import prepare, save_checkpoint
from gradcli.train.trajectory import axis_names


def run_training(spec: RunSpec, path: str, pictures: drawing.Request | None = None) -> None:
    training, info = prepare(spec, path)  # errors (e.g. no CUDA) surface before any output
    output = spec.output
    if pictures is not None:
        pictures.check(training.problem, spec.model)
    sink = make_sink(output)
    kept = None if pictures is None else drawing.Keeping(sink)  # the records, for pictures
    sink = kept or sink
    sink.start(info)
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
    if pictures is not None and kept is not None:
        run = Run(info.optimizer, kept.records, info.lr)
        drawing.show(pictures, [run], training.problem, output)


def run_compare(
    specs: list[RunSpec], tol: float | None, pictures: drawing.Request | None = None
) -> None:
    comparison = Comparison(specs, tol)
    output = specs[0].output
    if pictures is not None:
        problem = comparison.pairs[0][1].problem
        pictures.check_compare(problem, specs[0].model)
        comparison.track = axis_names(problem) is not None
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
    if pictures is not None:
        runs = comparison.runs()
        drawing.show(pictures, runs, comparison.pairs[0][1].problem, output, compare=True)
