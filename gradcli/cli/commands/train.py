"""``gradcli optim`` and ``gradcli manual``: one training run, with torch.optim or by hand.

Both commands share every option and the engine; they differ in the path (and manual offers
no fused ``--impl``). Options -> ``RunSpec`` (config file and checkpoint merged in, checked by
``gradcli.spec``) -> ``--print-config``, ``--print-script`` or the run itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer

from gradcli.cli import options as opt
from gradcli.cli.config_file import blame_config, with_config
from gradcli.cli.resumed import with_checkpoint_run
from gradcli.config import to_toml
from gradcli.spec import RunSpec, choose_optimizer, validate

OPTIM_HELP = "Train with torch.optim: zero_grad(), loss = model(), loss.backward(), step()."
OPTIM_EXAMPLES = opt.examples(
    "gradcli optim --steps 100",
    "gradcli optim --model seed --lr 0.001 --steps 3 --explain",
    "gradcli optim --model mlp -o adam --state --every 20",
    "gradcli optim -o adam --impl foreach --steps 500 --format jsonl | jq -c '[.step, .loss]'",
)
MANUAL_HELP = (
    "Train with a hand-written update: autograd computes the gradients, then each "
    "parameter is updated in place under torch.no_grad() and the gradients are dropped "
    "(set to None, as optimizer.zero_grad() does)."
)
MANUAL_EXAMPLES = opt.examples(
    "gradcli manual --steps 100",
    "gradcli manual --model seed --lr 0.001 --steps 3 --explain",
    "gradcli manual --model mlp -o adam --state --every 20",
    "gradcli manual --model rosenbrock -o rmsprop --centered --format jsonl | jq .loss",
)

# the command's parameters that are not fields of the RunSpec (``path`` is the closure's)
NOT_RUN_OPTIONS = ("ctx", "path", "config", "print_config", "print_script", "hyperparameters")
NOT_RUN_OPTIONS += ("plot", "plot_file", "pictures")  # --plot, --plot-file: after the run


def training_command(path: str) -> Callable[..., None]:
    """The command of one path (optim or manual)."""

    def command(
        ctx: typer.Context,
        model: opt.Model = "linear",
        optimizer: opt.Optimizer = "sgd",
        lr: opt.Lr = None,
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
        format: opt.Format = "auto",
        quiet: opt.Quiet = False,
        color: opt.Color = None,
        save: opt.Save = None,
        resume: opt.Resume = None,
        config: opt.Config = None,
        print_config: opt.PrintConfig = False,
        plot: opt.Plot = None,
        plot_file: opt.PlotFile = None,
        print_script: opt.PrintScript = False,
        **hyperparameters: Any,
    ) -> None:
        pictures = opt.pictures_of(plot, plot_file)
        given = {
            **{k: v for k, v in locals().items() if k not in NOT_RUN_OPTIONS},
            **hyperparameters,
        }
        merged = with_checkpoint_run(ctx, with_config(ctx, given, config))
        with blame_config(ctx, config):
            flags = opt.hyperparameter_flags(merged)
            name, lr, settings = choose_optimizer(merged.pop("optimizer"), flags)
            spec = validate(RunSpec(optimizer=name, lr=lr, settings=settings, **merged))

        if print_config:
            typer.echo(to_toml(spec), nl=False)
            return
        if print_script:
            from gradcli.script import print_script as script

            typer.echo(script(spec, path), nl=False)
            return
        from gradcli.train.run import run_training

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
