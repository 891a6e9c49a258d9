"""``gradcli optim`` and ``gradcli manual``: one training run, with torch.optim or by hand.

Both commands share every option and the engine; they differ in the path (and manual offers
no fused ``--impl``). Options -> ``RunSpec`` (config file and checkpoint merged in, checked by
``gradcli.spec``) -> ``--print-config``, ``--print-script`` or the run itself
(``run_training``: the engine's records to a sink). The engine is imported inside the
functions: importing this module never imports torch.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import typer

from gradcli.cli import options as opt
from gradcli.cli.config_file import blame_config, with_config
from gradcli.cli.epochs import with_epochs
from gradcli.cli.resumed import with_checkpoint_run
from gradcli.config import to_toml
from gradcli.spec import RunSpec, choose_optimizer, validate

if TYPE_CHECKING:
    from gradcli.pictures.request import Request
    from gradcli.train.loop import Training

OPTIM_EXAMPLES = opt.examples(
    "gradcli optim --steps 100",
    "gradcli optim --model seed --lr 0.001 --steps 3 --explain",
    "gradcli optim --model mlp -o adam --state --every 20",
    "gradcli optim -o adam --impl foreach --steps 500 --format jsonl | jq -c '[.step, .loss]'",
)
MANUAL_EXAMPLES = opt.examples(
    "gradcli manual --steps 100",
    "gradcli manual --model seed --lr 0.001 --steps 3 --explain",
    "gradcli manual --model mlp -o adam --state --every 20",
    "gradcli manual --model rosenbrock -o rmsprop --centered --format jsonl | jq .loss",
)

# the command's parameters that are not fields of the RunSpec (``path`` is the closure's)


def training_command(path: str) -> Callable[..., None]:
    """The command of one path (optim or manual)."""

    def command(
        ctx: typer.Context,
        model: opt.Model = "linear",
        optimizer: opt.Optimizer = "sgd",
        lr: opt.AutoLr = None,
        steps: opt.Steps = 100,
        seed: opt.Seed = 0,
        device: opt.Device = "auto",
        dtype: opt.Dtype = "float32",
        every: opt.Every = None,
        state: opt.State = False,
        explain: opt.Explain = False,
        show_code: opt.ShowCode = False,
        impl: opt.Impl = None,
        schedule: opt.Schedule = None,
        clip_norm: opt.ClipNorm = None,
        norm_type: opt.NormType = None,
        clip_value: opt.ClipValue = None,
        accumulate: opt.Accumulate = 1,
        amp: opt.Amp = None,
        loss_scale: opt.LossScale = 65536.0,
        growth_interval: opt.GrowthInterval = 2000,
        data: opt.Data = None,
        target: opt.Target = None,
        data_dir: opt.DataDir = None,
        batch_size: opt.BatchSize = None,
        epochs: opt.Epochs = None,
        shuffle: opt.Shuffle = True,
        drop_last: opt.DropLast = False,
        val_fraction: opt.ValFraction = None,
        data_seed: opt.DataSeed = 0,
        loss: opt.Loss = None,
        task: opt.Task = None,
        schedule_per: opt.SchedulePer = "batch",
        format: opt.Format = "auto",
        quiet: opt.Quiet = False,
        color: opt.Color = None,
        save: opt.Save = None,
        resume: opt.Resume = None,
        config: opt.Config = None,
        print_config: opt.PrintConfig = False,
        plot: opt.Plot = None,
        plot_file: opt.PlotFile = None,
        report: opt.Report = None,
        print_script: opt.PrintScript = False,
        **hyperparameters: Any,
    ) -> None:
        pictures = opt.pictures_of(plot, plot_file, report, ctx)
        given = {
            **{k: v for k, v in locals().items() if k not in opt.NOT_RUN_OPTIONS},
            **hyperparameters,
        }
        merged = with_checkpoint_run(ctx, with_config(ctx, given, config))
        with blame_config(ctx, config):
            merged = with_epochs(ctx, merged)
            flags = opt.hyperparameter_flags(merged)
            auto = flags.get("lr") == "auto"
            if auto:  # found below, once the rest of the run is checked
                flags["lr"] = None
            name, lr, settings = choose_optimizer(merged.pop("optimizer"), flags)
            spec = validate(RunSpec(optimizer=name, lr=lr, settings=settings, **merged))
        if auto:
            from gradcli.cli.commands.lr_find import auto_lr

            spec = replace(spec, lr=auto_lr(spec, path))

        if print_config:
            typer.echo(to_toml(spec), nl=False)
            return
        if print_script:
            from gradcli.script import print_script as script

            typer.echo(script(spec, path), nl=False)
            return
        run_training(spec, path, pictures)

    if path == "manual":  # no fused rules by hand: --impl offers forloop and foreach
        signature = inspect.signature(command, eval_str=True)
        command.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[
                p.replace(annotation=opt.ManualImpl) if p.name == "impl" else p
                for p in signature.parameters.values()
            ]
        )
    return opt.with_hyperparameter_options(command)


optim = training_command("optim")
manual = training_command("manual")


def run_training(spec: RunSpec, path: str, pictures: Request | None = None) -> None:
    """One run, end to end: spec -> engine -> records -> sink. Ctrl-C, a signal, a closed
    pipe, the user's code failing and divergence each end it the documented way, with the
    checkpoint saved (``--save``) and the steps done kept."""
    from gradcli._startup import collector
    from gradcli.errors import Diverged, Interrupted
    from gradcli.pictures import live as drawing
    from gradcli.records import EpochRecord
    from gradcli.render import make_sink
    from gradcli.render.listing import show_listing
    from gradcli.saved_runs import Run
    from gradcli.train.interrupt import interruptible
    from gradcli.train.setup import prepare
    from gradcli.usercode import UserCodeFailed

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
        from gradcli.script.show_code import listing  # (only then: it reads sources)

        buffers = tuple(getattr(training.problem, "data_buffers", ()))
        micro = (spec.accumulate, () if training.feed is not None else buffers)
        shown = listing(
            training.update, spec.model, spec.steps, training.feed, spec.amp, info, micro
        )
        show_listing(output, shown)
    collector.resume()  # start-up is over
    with (
        interruptible() as interrupt,
        output.progress(
            training.start + spec.steps,
            f"gradcli {path}",
            thinned=spec.every > 1,
            start=training.start,
        ) as progress,
    ):
        training.should_stop = interrupt.is_set
        completed = [training.start]  # the last step whose update is done

        def on_step(step: int) -> None:
            completed[0] = step
            progress(step)

        training.on_step = on_step
        try:
            for record in training:
                completed[0] = record.step  # (its update is done before it is yielded)
                with progress.aside():
                    if isinstance(record, EpochRecord):
                        sink.epoch(record)
                    else:
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
    # a signal during the last step (or after its record) stops the run as any other: the
    # checkpoint written, then its exit status, not success
    interrupted = interrupt.is_set()
    if spec.save is not None:  # at the end of the run, and when a signal stopped it
        _save(training, spec)
    if interrupted:
        done = last if training.stopped_at is None else training.stopped_at
        raise Interrupted(f"stopped after step {done} of {last}", interrupt.signum)
    try:
        summary = training.summary()
    except UserCodeFailed as failure:
        raise UserCodeFailed(f"--model {spec.model}: after step {last}: {failure}") from None
    sink.finish(summary)
    if pictures is not None and kept is not None:
        run = Run(info.optimizer, kept.records, info.lr, final_loss=summary.final_loss)
        drawing.show(pictures, [run], training.problem, output, info=info)


def _save(training: Training, spec: RunSpec, when: str = "") -> None:
    """Write the checkpoint whatever signals come meanwhile, and whether or not the line that
    says so can be written (SIGHUP: the terminal may be gone)."""
    from gradcli.train.interrupt import deferred
    from gradcli.train.setup import save_checkpoint

    with contextlib.suppress(OSError):
        spec.output.say(f"gradcli: saving checkpoint {spec.save}{when}")
    with deferred():
        save_checkpoint(training, spec)
