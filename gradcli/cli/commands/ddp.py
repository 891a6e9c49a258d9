"""``gradcli ddp``: data-parallel training on torch.distributed, by hand and with DDP.

Its own options (``--nproc``, ``--path``, ``--timeout``) are checked in
``gradcli.ddp.options``; the run's options make a ``RunSpec`` as optim's do (with ``--data``,
``--epochs`` counts each rank's batches: ``--batch-size`` is per rank).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from gradcli.cli import options as opt
from gradcli.cli.epochs import with_epochs
from gradcli.ddp.options import PATHS, check_run, ddp_options, torchrun_world
from gradcli.spec import RunSpec, choose_optimizer, validate

EXAMPLES = opt.examples(
    "gradcli ddp --nproc 2 --steps 5",
    "gradcli ddp --nproc 2 --path ddp --model mlp -o adam --every 10",
    "gradcli ddp --nproc 2 --path ddp --accumulate 4 --steps 5",
    "gradcli ddp --nproc 2 --path ddp --model mlp --amp fp16 --steps 5",
    "gradcli ddp --nproc 2 --path ddp --print-script > s.py && torchrun --nproc-per-node 2 s.py",
    "torchrun --nproc-per-node 2 -m gradcli ddp --path ddp",
    "gradcli ddp --nproc 4 --format jsonl | jq -c '[.step, .max_param_diff_across_ranks]'",
    "gradcli ddp --data digits --model mlp --batch-size 32 --epochs 2 -o adam --every 10",
)
DDP_FORMATS = ("auto", "table", "jsonl")
DdpFormat = opt.format_option(
    *DDP_FORMATS, help="auto (a table on a terminal, JSON lines otherwise), table, jsonl."
)
NOT_RUN_OPTIONS = (
    "ctx",
    "nproc",
    "path",
    "timeout",
    "plot_file",
    "print_script",
    "hyperparameters",
)
DdpBatchSize = Annotated[
    int | None,
    typer.Option(
        parser=opt.integer,
        metavar="B",
        show_default=False,
        rich_help_panel=opt.DATA_PANEL,
        help="Samples per batch on each rank, drawn by DistributedSampler (a step trains on "
        "B × --nproc samples; default: all of a rank's share in one batch).",
    ),
]


def ddp(
    ctx: typer.Context,
    nproc: Annotated[
        int,
        typer.Option(parser=opt.integer, metavar="INT", help="Worker processes on this machine."),
    ] = 2,
    path: Annotated[
        str,
        typer.Option(
            metavar="manual|ddp",
            autocompletion=opt.completion(*PATHS),
            help="How the gradients are averaged: manual (all_reduce by hand), "
            "ddp (DistributedDataParallel).",
        ),
    ] = "manual",
    timeout: Annotated[
        float,
        typer.Option(parser=opt.real, metavar="SECONDS", help="Timeout of every collective."),
    ] = 60.0,
    model: opt.DdpModel = "linear",
    optimizer: opt.Optimizer = "sgd",
    lr: opt.Lr = None,
    steps: opt.Steps = 20,
    seed: opt.Seed = 0,
    device: opt.Device = "cpu",
    dtype: opt.Dtype = "float32",
    every: opt.Every = 1,
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
    batch_size: DdpBatchSize = None,
    epochs: opt.Epochs = None,
    shuffle: opt.Shuffle = True,
    drop_last: opt.DropLast = False,
    val_fraction: opt.ValFraction = None,
    data_seed: opt.DataSeed = 0,
    loss: opt.Loss = None,
    schedule_per: opt.SchedulePer = "batch",
    format: DdpFormat = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
    plot_file: opt.PlotFile = None,
    print_script: opt.PrintScript = False,
    **hyperparameters: Any,
) -> None:
    given = {k: v for k, v in locals().items() if k not in NOT_RUN_OPTIONS}
    flags = {"lr": given.pop("lr"), **hyperparameters}
    opt.output_of(format, quiet, color, DDP_FORMATS)
    options = replace(ddp_options(nproc, path, timeout), plot_file=plot_file)
    opt.pictures_of(None, plot_file)  # a bad --plot-file is exit 2 before any worker starts
    world = torchrun_world() or options.nproc
    given = with_epochs(ctx, given, world)
    name, lr, settings = choose_optimizer(given.pop("optimizer"), flags)
    spec = validate(RunSpec(optimizer=name, lr=lr, settings=settings, **given))
    check_run(spec, world)
    if print_script:
        from gradcli.script.ddp import ddp_script

        typer.echo(ddp_script(spec, options, world), nl=False)
        return
    from gradcli.ddp.launch import launch

    launch(spec, options)


ddp = opt.with_hyperparameter_options(ddp)
