"""Drives each command: spec -> engine -> records -> sink, with Ctrl-C and divergence."""

from __future__ import annotations

import contextlib

from gradcli._startup import collector
from gradcli.errors import Diverged, Interrupted
from gradcli.pictures import live as drawing
from gradcli.problems.plane import axis_names
from gradcli.render import make_compare_sink, make_sink
from gradcli.render.listing import show_listing
from gradcli.saved_runs import Run
from gradcli.script.show_code import listing
from gradcli.spec import RunSpec
from gradcli.train.compare import Comparison
from gradcli.train.interrupt import deferred, interruptible
from gradcli.train.loop import Training
from gradcli.train.setup import prepare, save_checkpoint
from gradcli.usercode import UserCodeFailed


def run_training(spec: RunSpec, path: str, pictures: drawing.Request | None = None) -> None:
    spec = spec.with_every()
    training, info = prepare(spec, path)  # errors (e.g. no CUDA) surface before any output
    output = spec.output
    if pictures is not None:
        pictures.check(training.problem, spec.model)
    sink = make_sink(output)
    kept = None if pictures is None else drawing.Keeping(sink)  # the records, for pictures
    sink = kept or sink
    sink.start(info)
    if spec.show_code:
        show_listing(output, listing(training.update, spec.model, spec.steps))
    collector.resume()  # start-up is over
    with (
        interruptible() as interrupt,
        output.progress(spec.steps, f"gradcli {path}", thinned=spec.every > 1) as progress,
    ):
        training.should_stop = interrupt.is_set
        completed = [training.start]  # the last step whose update is done

        def on_step(step: int) -> None:
            completed[0] = step
            progress(step - training.start)

        training.on_step = on_step
        try:
            for record in training:
                completed[0] = record.step  # (its update is done before it is yielded)
                with progress.aside():
                    sink.step(record)
        except (UserCodeFailed, OSError) as failure:
            # the user's code failed, or stdout did (a closed pipe, a full disk, a terminal
            # gone): the steps done are kept, and saved
            training.stopped_at = done = completed[0]
            if spec.save is not None:
                _save(training, spec, f" (after step {done})")
            if isinstance(failure, UserCodeFailed):
                raise UserCodeFailed(f"--model {spec.model}: step {done + 1}: {failure}") from None
            if interrupt.is_set():  # SIGHUP: the terminal, stdout with it, is gone
                raise Interrupted(f"stopped after step {done}", interrupt.signum) from None
            raise
    if training.diverged:
        lr = info.lr
        raise Diverged(f"{training.diverged}; try a smaller --lr (this run used {lr:g})")
    last = training.start + spec.steps
    interrupted = training.stopped_at is not None and training.stopped_at < last
    if spec.save is not None:  # at the end of the run, and when a signal stopped it
        _save(training, spec)
    if interrupted:
        raise Interrupted(f"stopped after step {training.stopped_at} of {last}", interrupt.signum)
    try:
        summary = training.summary()
    except UserCodeFailed as failure:
        raise UserCodeFailed(f"--model {spec.model}: after step {last}: {failure}") from None
    sink.finish(summary)
    if pictures is not None and kept is not None:
        run = Run(info.optimizer, kept.records, info.lr)
        drawing.show(pictures, [run], training.problem, output)


def _save(training: Training, spec: RunSpec, when: str = "") -> None:
    """Write the checkpoint whatever signals come meanwhile, and whether or not the line that
    says so can be written (SIGHUP: the terminal may be gone)."""
    with contextlib.suppress(OSError):
        spec.output.say(f"gradcli: saving checkpoint {spec.save}{when}")
    with deferred():
        save_checkpoint(training, spec)


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
        try:
            for record in comparison:
                sink.step(record)
        except UserCodeFailed as failure:
            raise UserCodeFailed(f"--model {specs[0].model}: {failure}") from None
    if comparison.diverged is not None:
        raise Diverged(f"{comparison.diverged}; try a smaller --lr")
    if comparison.stopped_at is not None:
        raise Interrupted(
            f"stopped after step {comparison.stopped_at} of {specs[0].steps}", interrupt.signum
        )
    sink.finish(comparison.summaries)
    if pictures is not None:
        runs = comparison.runs()
        drawing.show(pictures, runs, comparison.pairs[0][1].problem, output, compare=True)
