"""``gradcli lr-find``: the learning-rate range test (Smith's; fastai's ``lr_find``).

Options -> a ``RunSpec`` (the same problem, optimizer and data options as ``optim``) and a
``Ramp`` -> ``gradcli.train.lr_find.run`` on the one loop -> ``gradcli.render.lr_find``. The
engine is imported inside the function: importing this module never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from gradcli.cli import options as opt
from gradcli.lr_range import FORMATS, RAMPS, RULE, Ramp
from gradcli.spec import RunSpec, choose_optimizer, validate

if TYPE_CHECKING:
    from gradcli.lr_range import Curve, Spread
    from gradcli.output import Output

DETAILS = f"The suggestion: {RULE}."
EXAMPLES = opt.examples(
    "gradcli lr-find -m mlp -o adam",
    "gradcli optim -m mlp -o adam --lr $(gradcli lr-find -m mlp -o adam)",
    "gradcli lr-find -d digits -m mlp --batch-size 32 -o sgd --momentum 0.9 --seeds 5",
    "gradcli lr-find -m mlp -o adam --format jsonl | jq -c '[.lr, .smoothed]'",
)
RAMP_PANEL = "The range test"
StartLr = Annotated[
    float,
    typer.Option(
        parser=opt.real, metavar="FLOAT", rich_help_panel=RAMP_PANEL, help="The first lr, > 0."
    ),
]
EndLr = Annotated[
    float,
    typer.Option(
        parser=opt.real,
        metavar="FLOAT",
        rich_help_panel=RAMP_PANEL,
        help="The last lr, above --start-lr.",
    ),
]
RampSteps = Annotated[
    int,
    typer.Option(
        parser=opt.integer,
        metavar="INT",
        rich_help_panel=RAMP_PANEL,
        help="Number of updates, each at the next lr of the ramp, >= 2.",
    ),
]
RampKind = Annotated[
    str,
    typer.Option(
        "--ramp",
        autocompletion=opt.completion(*RAMPS),
        rich_help_panel=RAMP_PANEL,
        help="exponential: lr_i = start·(end/start)^(i/(n-1)); linear: start + (end-start)·"
        "i/(n-1), for step i = 0 .. n-1.",
    ),
]
Smoothing = Annotated[
    float,
    typer.Option(
        parser=opt.real,
        metavar="BETA",
        rich_help_panel=RAMP_PANEL,
        help="The loss's exponential moving average, bias-corrected as fastai and Lightning "
        "do: avg = β·avg + (1-β)·loss, smoothed = avg/(1-β^(i+1)); 0 <= β < 1 (0: none).",
    ),
]
StopFactor = Annotated[
    float,
    typer.Option(
        parser=opt.real,
        metavar="X",
        rich_help_panel=RAMP_PANEL,
        help="Stop once the smoothed loss is above X times the best so far, X > 1 (inf: run "
        "the whole ramp); a loss that is not finite always stops it.",
    ),
]
Seeds = Annotated[
    int,
    typer.Option(
        parser=opt.integer,
        metavar="N",
        rich_help_panel=RAMP_PANEL,
        help="Repeat the test N times, with --seed + k (and --data-seed + k with --data; k = 0 .. "
        "N-1), and "
        "report the suggestions' median, min and max; the median is the suggestion.",
    ),
]
Manual = Annotated[
    bool,
    typer.Option(
        "--manual",
        help="Update with the hand-written rule (as gradcli manual) instead of torch.optim.",
    ),
]
Format = opt.format_option(
    *FORMATS,
    help="number (the suggestion alone), plot (the curve), jsonl, csv, tsv (every point: step, "
    "lr, loss, smoothed, seed); auto is plot on a terminal, number otherwise.",
)


def lr_find(
    model: opt.Model = "linear",
    optimizer: opt.Optimizer = "sgd",
    start_lr: StartLr = 1e-7,
    end_lr: EndLr = 10.0,
    steps: RampSteps = 100,
    ramp: RampKind = "exponential",
    smoothing: Smoothing = 0.98,
    stop_factor: StopFactor = 4.0,
    seeds: Seeds = 1,
    manual: Manual = False,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    dtype: opt.Dtype = "float32",
    impl: opt.Impl = None,
    accumulate: opt.Accumulate = 1,
    data: opt.Data = None,
    target: opt.Target = None,
    data_dir: opt.DataDir = None,
    batch_size: opt.BatchSize = None,
    shuffle: opt.Shuffle = True,
    drop_last: opt.DropLast = False,
    val_fraction: opt.ValFraction = None,
    data_seed: opt.DataSeed = 0,
    loss: opt.Loss = None,
    task: opt.Task = None,
    format: Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
    **hyperparameters: Any,
) -> None:
    from gradcli.errors import GradcliError

    output = opt.output_of(format, quiet, color, FORMATS)
    the_ramp = Ramp(start_lr, end_lr, steps, ramp).check()
    if not 0 <= smoothing < 1:
        raise GradcliError(f"--smoothing must be a number in [0, 1), got {smoothing!r}")
    if not stop_factor > 1:  # (nan too)
        raise GradcliError(f"--stop-factor must be a number > 1 (or inf), got {stop_factor!r}")
    if seeds < 1:
        raise GradcliError(f"--seeds must be an integer >= 1, got {seeds}")
    name, _, settings = choose_optimizer(optimizer, opt.hyperparameter_flags(hyperparameters))
    spec = validate(
        RunSpec(
            model=model,
            optimizer=name,
            lr=start_lr,
            settings=settings,
            impl=impl,
            accumulate=accumulate,
            steps=steps,
            seed=seed,
            device=device,
            dtype=dtype,
            format="jsonl",
            quiet=quiet,
            color=color,
            data=data,
            target=target,
            data_dir=data_dir,
            val_fraction=val_fraction,
            data_seed=data_seed,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            loss=loss,
            task=task,
        )
    )
    find(spec, "manual" if manual else "optim", the_ramp, smoothing, stop_factor, seeds, output)


lr_find = opt.with_hyperparameter_options(lr_find)


def find(
    spec: RunSpec,
    path: str,
    ramp: Ramp,
    beta: float,
    stop_factor: float,
    seeds: int,
    output: Output,
) -> None:
    """The tests run, their output shown; Ctrl-C shows what was done, then exits 130."""
    from gradcli.errors import Interrupted
    from gradcli.render.lr_find import show

    curves, spread, interrupted = tested(spec, path, ramp, beta, stop_factor, seeds, output)
    show(output, curves, spread, ramp)
    if interrupted is not None:
        raise Interrupted("stopped during the range test", interrupted)
    if spread is None:
        raise _no_suggestion(ramp)


def tested(
    spec: RunSpec,
    path: str,
    ramp: Ramp,
    beta: float,
    stop_factor: float,
    seeds: int,
    output: Output,
) -> tuple[list[Curve], Spread | None, int | None]:
    """The curves of the tests, the spread of their suggestions (None: none), and the
    signal that stopped them (None: none did)."""
    from gradcli._startup import collector
    from gradcli.lr_range import Curve, Spread
    from gradcli.train.interrupt import interruptible
    from gradcli.train.lr_find import run

    collector.resume()
    with (
        interruptible() as interrupt,
        output.progress(ramp.steps * seeds, "gradcli lr-find", thinned=True) as progress,
    ):
        curves, _ = run(
            spec,
            path,
            ramp,
            lambda seed: Curve(beta, stop_factor, seed),
            seeds,
            interrupt.is_set,
            progress,
        )
    found = [s.lr for c in curves if (s := c.suggestion()) is not None]
    spread = Spread(tuple(found)) if found else None
    return curves, spread, interrupt.signum if interrupt.is_set() else None


def auto_lr(spec: RunSpec, path: str) -> float:
    """``--lr auto`` of optim and manual: lr-find's suggestion for ``spec`` with its defaults
    (one seed, the run's own), said on stderr; the run itself then starts afresh."""
    from gradcli.errors import Interrupted

    ramp = Ramp()
    output = spec.output
    _, spread, interrupted = tested(spec, path, ramp, 0.98, 4.0, 1, output)
    if interrupted is not None:
        raise Interrupted("stopped during --lr auto's range test", interrupted)
    if spread is None:
        raise _no_suggestion(ramp, "--lr auto: ")
    output.say(f"gradcli: --lr auto: {spread.median:.6g}, lr-find's suggestion: {RULE}")
    return spread.median


def _no_suggestion(ramp: Ramp, where: str = "") -> Exception:
    from gradcli.errors import Diverged

    return Diverged(
        f"{where}the smoothed loss never fell between lr {ramp.start:g} and the stop; try a "
        "smaller --start-lr"
    )
