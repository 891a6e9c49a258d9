"""``gradcli schedule SCHEDULER``: one learning-rate schedule run by hand and by torch, side by
side. Everything is checked before torch is imported."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from gradcli.cli import options as opt
from gradcli.errors import GradcliError

DEFAULT_LR = 0.1  # the optimizer's lr a schedule starts from, when --lr is not given
DEFAULT_OPTIMIZER = "SGD(momentum=0.9)"
EXAMPLES = opt.examples(
    "gradcli schedule 'StepLR(step_size=30, gamma=0.5)' --steps 100",
    "gradcli schedule 'OneCycleLR(max_lr=0.1, total_steps=100)' -o adam",
    "gradcli schedule 'SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=5), "
    "CosineAnnealingLR(T_max=95)], milestones=[5])'",
    "gradcli schedule 'ReduceLROnPlateau(patience=2)' --losses 3,2,1.5,1.5,1.5,1.5,1.4",
    "gradcli schedule 'CosineAnnealingLR(T_max=50)' --format jsonl | jq -c '[.step, .lr]'",
)
DEFAULT_STEPS = 100
# a person reads a table and its curve; 10,000 rows already take seconds to lay out
TABLE_STEPS = 10_000


def schedule(
    scheduler: Annotated[
        str,
        typer.Argument(
            metavar="SCHEDULER",
            autocompletion=opt.SCHEDULE_COMPLETION,
            help="torch's constructor with torch's keywords, the optimizer left out: "
            "'StepLR(step_size=30)': any scheduler of torch.optim.lr_scheduler that needs no "
            "Python function (a name it does not know lists them all).",
            show_default=False,
        ),
    ],
    steps: Annotated[
        int | None,
        typer.Option(
            parser=opt.integer,
            metavar="INT",
            show_default=False,
            help=f"Training steps, >= 1 (default: 100, or one per --losses value); at most "
            f"{TABLE_STEPS:,} in a table, any number in jsonl, csv, tsv (written as computed).",
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            parser=opt.real,
            metavar="FLOAT",
            show_default=False,
            help=f"The optimizer's lr, which the schedule starts from (default: {DEFAULT_LR:g}).",
        ),
    ] = None,
    optimizer: Annotated[
        str,
        typer.Option(
            "--optimizer",
            "-o",
            metavar="NAME|CONSTRUCTOR",
            help="The torch optimizer the scheduler drives (OneCycleLR and CyclicLR set its "
            "momentum, or β1 with betas).",
        ),
    ] = DEFAULT_OPTIMIZER,
    losses: Annotated[
        str | None,
        typer.Option(
            metavar="L1,L2,...",
            show_default=False,
            help="ReduceLROnPlateau: the loss of each step, comma-separated (default: "
            "1 + 9·0.8^step, a curve that flattens: with torch's defaults the lr drops at step 64, "
            "then every 11 steps; "
            "10 − 9·0.8^step with mode='max').",
        ),
    ] = None,
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = opt.output_of(format, quiet, color)
    from gradcli import optimizers
    from gradcli.render.schedules import show_schedule
    from gradcli.schedules.schedule_spec import lacks_momentum, parse_schedule
    from gradcli.schedules.side_by_side import SyntheticLosses, parse_losses, side_by_side
    from gradcli.spec import choose_optimizer

    spec = parse_schedule(scheduler, "schedule")
    name, given_lr, settings = choose_optimizer(optimizer, {"lr": lr})
    chosen = optimizers.find(name)
    base_lr = DEFAULT_LR if given_lr is None else given_lr
    if not (math.isfinite(base_lr) and base_lr >= 0):
        raise GradcliError(f"--lr must be a finite number >= 0, got {base_lr!r}")
    fed = None  # the losses fed to ReduceLROnPlateau
    if losses is not None:
        if not spec.scheduler.needs_loss:
            raise GradcliError(
                f"--losses applies to ReduceLROnPlateau only (its step takes the loss), "
                f"not to {spec.scheduler.torch_class}"
            )
        fed = parse_losses(losses)
        if steps is not None and steps != len(fed):
            raise GradcliError(
                f"--steps {steps} but --losses gives {len(fed)} values: one loss per step"
            )
        steps = len(fed)
    steps = DEFAULT_STEPS if steps is None else steps
    if not 1 <= steps < 2**63:  # (torch counts steps in int64)
        raise GradcliError(f"--steps must be an integer in [1, 2**63), got {steps}")
    if steps > TABLE_STEPS and output.resolved_format() == "table":
        raise GradcliError(
            f"--steps {steps}: a table shows at most {TABLE_STEPS:,} steps; -f jsonl, csv or "
            "tsv write any number, each step as it is computed (| head ends them at once)"
        )
    most = spec.most_steps
    if most is not None and steps > most:
        raise GradcliError(
            f"--steps {steps}: {spec.text} takes at most {most} steps (torch refuses more)"
        )
    if spec.scheduler.needs_loss and fed is None:
        fed = SyntheticLosses(steps, spec.keywords["mode"])
    wrong = lacks_momentum(spec, {**chosen.defaults, **settings}, chosen.torch_class)
    if wrong:
        raise GradcliError(f"schedule {scheduler}: {wrong}")
    rows, key = side_by_side(spec, steps, base_lr, chosen, settings, fed)
    note = ""
    if spec.scheduler.sets_lr:
        note = f"{spec.scheduler.torch_class} sets the lr itself: the optimizer's lr is not used"
    show_schedule(spec, rows, key, output, note)
