"""``gradcli compare``: several optimizers, each by hand and with torch.optim, from one start.

Options -> one ``RunSpec`` per optimizer (config file merged in, ``--epochs`` made steps) ->
``--print-config`` or the comparison (``run_compare``), with ``--tol`` (and on ``--data``
``--target-accuracy``) and the pictures after it. The engine is imported inside the
functions: importing this module never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from gradcli import optimizers
from gradcli.cli import options as opt
from gradcli.cli.config_file import blame_config, with_config
from gradcli.cli.epochs import with_epochs
from gradcli.config import to_toml
from gradcli.errors import GradcliError
from gradcli.spec import RunSpec, left_out_of_all, specs_for_compare, split_optimizers

if TYPE_CHECKING:
    from gradcli.pictures.request import Request

EXAMPLES = opt.examples(
    "gradcli compare",
    "gradcli compare --model rosenbrock -o sgd,adam,rmsprop --steps 300 --tol 0.01",
    "gradcli compare -o adam --impl fused --dtype float64",
    "gradcli compare -m mlp -o sgd,adam --accumulate 4 --amp bf16",
    "gradcli compare -o sgd -o adam --format jsonl | jq -c 'select(.max_ulps > 0)'",
    "gradcli compare -d digits -m mlp --batch-size 64 --epochs 5 -o sgd,adam",
)
TargetAccuracy = Annotated[
    float | None,
    typer.Option(
        parser=opt.real,
        metavar="A",
        show_default=False,
        rich_help_panel=opt.DATA_PANEL,
        help="With --data: report the first epoch whose held-out accuracy is at least A "
        "(a fraction: 0.95 for 95%).",
    ),
]


def compare(
    ctx: typer.Context,
    model: opt.Model = "linear",
    optimizer: Annotated[
        list[str] | None,
        typer.Option(
            "--optimizer",
            "-o",
            show_default=False,
            metavar="NAME|CONSTRUCTOR",
            autocompletion=opt.completion("all", optimizers.names),
            help="The runs to compare, repeatable or comma-separated: names or torch's "
            "constructors, e.g. -o 'SGD(lr=0.01)' -o 'SGD(lr=0.01, momentum=0.9)' "
            f"(default: {', '.join(optimizers.compared_by_default())}; all: every optimizer).",
        ),
    ] = None,
    lr: opt.Lr = None,
    steps: opt.Steps = 100,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    dtype: opt.Dtype = "float32",
    tol: Annotated[
        float | None,
        typer.Option(
            parser=opt.real,
            metavar="FLOAT",
            show_default=False,
            help="Report the steps each method needs to reach this loss (with --data: the "
            "epochs until the held-out loss is at most this).",
        ),
    ] = None,
    impl: opt.Impl = None,
    schedule: opt.Schedule = None,
    clip_norm: opt.ClipNorm = None,
    norm_type: opt.NormType = None,
    clip_value: opt.ClipValue = None,
    accumulate: opt.Accumulate = 1,
    amp: opt.Amp = None,
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
    target_accuracy: TargetAccuracy = None,
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
    config: opt.Config = None,
    print_config: opt.PrintConfig = False,
    print_script: opt.PrintScript = False,
    plot: opt.ComparePlot = None,
    plot_file: opt.PlotFile = None,
    report: opt.Report = None,
    **hyperparameters: Any,
) -> None:
    pictures = opt.pictures_of(plot, plot_file, report, ctx)
    given = {
        **{k: v for k, v in locals().items() if k not in opt.NOT_RUN_OPTIONS},
        **hyperparameters,
    }
    merged = with_config(ctx, given, config, compare=True)
    if merged.get("amp") == "fp16":  # (the runs' records have no place for a scaler's scale)
        raise GradcliError(
            "--amp fp16: gradcli compare does not run a gradient scaler (GradScaler) yet; "
            "use --amp bf16"
        )
    chosen = merged.pop("optimizer")
    tol = merged.pop("tol")
    target_accuracy = merged.pop("target_accuracy")
    with blame_config(ctx, config):
        texts = split_optimizers(
            chosen if isinstance(chosen, list) or chosen is None else [chosen], merged["model"]
        )
        merged = with_epochs(ctx, merged)
        flags = opt.hyperparameter_flags(merged)
        specs = specs_for_compare(texts, flags, merged, tol, target_accuracy)

    if print_config:
        extra = {"tol": tol, "target_accuracy": target_accuracy}
        typer.echo(to_toml(specs, extra, keys=given), nl=False)
        return
    given_optimizers = chosen if isinstance(chosen, list) or chosen is None else [chosen]
    for left_out in left_out_of_all(given_optimizers, merged["model"]):
        specs[0].output.say(f"gradcli: -o all: leaving out {left_out}")
    if print_script:
        from gradcli.script.compare import compare_script

        typer.echo(compare_script(specs), nl=False)
        return
    run_compare(specs, tol, pictures, target_accuracy)


compare = opt.with_hyperparameter_options(compare)


def run_compare(
    specs: list[RunSpec],
    tol: float | None,
    pictures: Request | None = None,
    target_accuracy: float | None = None,
) -> None:
    """Every method of ``specs``, by hand and with torch.optim, stepped together: records ->
    sink, then the summaries (steps to ``tol``; on --data, epochs to ``tol`` and to
    ``target_accuracy``) and the pictures; Ctrl-C and divergence end it the documented
    way."""
    from gradcli._startup import collector
    from gradcli.errors import Diverged, Interrupted
    from gradcli.pictures import live as drawing
    from gradcli.problems.plane import axis_names
    from gradcli.records import CompareEpochRecord
    from gradcli.render import make_compare_sink
    from gradcli.train.compare import Comparison
    from gradcli.train.interrupt import interruptible
    from gradcli.usercode import UserCodeFailed

    comparison = Comparison(specs, tol, target_accuracy)
    output = specs[0].output
    if pictures is not None:
        problem = comparison.pairs[0][1].problem
        pictures.check_compare(problem, specs[0].model)
        comparison.track = axis_names(problem) is not None
    sink = make_compare_sink(output, data=comparison.data)
    sink.start(comparison.info)
    collector.resume()  # start-up is over
    with interruptible() as interrupt:
        comparison.should_stop = interrupt.is_set
        try:
            for record in comparison:
                if isinstance(record, CompareEpochRecord):
                    sink.epoch(record)
                else:
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
        runs = drawing.with_epochs(comparison.runs(), comparison.summaries)
        problem = comparison.pairs[0][1].problem
        drawing.show(pictures, runs, problem, output, compare=True, info=comparison.info)
