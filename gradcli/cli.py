"""The command line: options in, a validated RunSpec to the engine, records to a sink.

This module must not import torch at import time: ``gradcli --help`` and shell
completion stay fast. Commands import the engine inside their bodies.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from gradcli.errors import GradcliError

try:  # typer >= 0.29 vendors click; older releases raise click's own exceptions
    from typer import TyperException as _CommandLineError
except ImportError:  # pragma: no cover
    from click import ClickException as _CommandLineError
from gradcli.spec import DTYPES, FORMATS, MODELS, OPTIMIZERS, RunSpec, validate


class GradcliGroup(TyperGroup):
    """Turns every error a user can cause into one line on stderr and an exit status."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(
                args, prog_name or "gradcli", complete_var, standalone_mode=False, **extra
            )
        except GradcliError as error:
            code = _fail(f"gradcli: error: {error}", error.exit_code)
        except _CommandLineError as error:
            ctx = getattr(error, "ctx", None)
            where = ctx.command_path if ctx is not None else "gradcli"
            message = " ".join(error.format_message().split())
            code = _fail(
                f"gradcli: error: {message} (see '{where} --help')", getattr(error, "exit_code", 2)
            )
        except typer.Abort:
            code = _fail("gradcli: aborted", 130)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _fail(line: str, code: int) -> int:
    print(line, file=sys.stderr)
    return code


app = typer.Typer(
    cls=GradcliGroup,
    name="gradcli",
    help="Make one step of neural-network training visible: loss, gradients, parameters "
    "and updates, by hand (manual) and with torch.optim (optim).",
    invoke_without_command=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=True,
)


@app.callback()
def _top(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def _integer(value: str | int) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an integer") from None


def _real(value: str | float) -> float:
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a number") from None


def _choices(names: Sequence[str] | dict[str, Any]) -> str:
    return ", ".join(names)


ModelOpt = Annotated[str, typer.Option("--model", "-m", help=f"Problem: {_choices(MODELS)}.")]
OptimizerOpt = Annotated[
    str, typer.Option("--optimizer", "-o", help=f"Update rule: {_choices(OPTIMIZERS)}.")
]
LrOpt = Annotated[
    float | None,
    typer.Option(
        "--lr",
        parser=_real,
        metavar="FLOAT",
        help="Learning rate, >= 0. (default: the problem's own)",
        show_default=False,
    ),
]
MomentumOpt = Annotated[
    float | None,
    typer.Option(
        parser=_real,
        metavar="FLOAT",
        help="SGD momentum μ in [0, 1). (default: 0)",
        show_default=False,
    ),
]
DampeningOpt = Annotated[
    float | None,
    typer.Option(
        parser=_real,
        metavar="FLOAT",
        help="SGD dampening τ in [0, 1]. (default: 0)",
        show_default=False,
    ),
]
NesterovOpt = Annotated[
    bool | None,
    typer.Option(
        "--nesterov/--no-nesterov",
        help="Nesterov momentum (needs momentum > 0, dampening 0). (default: off)",
        show_default=False,
    ),
]
WeightDecayOpt = Annotated[
    float | None,
    typer.Option(
        parser=_real,
        metavar="FLOAT",
        help="L2 penalty λ, >= 0, added to the gradient. (default: 0)",
        show_default=False,
    ),
]
MaximizeOpt = Annotated[
    bool | None,
    typer.Option(
        "--maximize/--no-maximize",
        help="Ascend the loss instead. (default: off)",
        show_default=False,
    ),
]
StepsOpt = Annotated[
    int, typer.Option(parser=_integer, metavar="INT", help="Number of updates, >= 0.")
]
SeedOpt = Annotated[
    int, typer.Option(parser=_integer, metavar="INT", help="Seed for the initial parameters.")
]
DeviceOpt = Annotated[str, typer.Option(help="auto (CUDA when available), cpu, cuda, cuda:N.")]
DtypeOpt = Annotated[str, typer.Option(help=f"Parameter and data dtype: {_choices(DTYPES)}.")]
EveryOpt = Annotated[
    int,
    typer.Option(
        parser=_integer,
        metavar="INT",
        help="Print every Nth step (step 0 and the last are always printed).",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help=f"{_choices(FORMATS)}; auto is a table on a terminal, JSON lines otherwise.",
    ),
]


def _examples(command: str) -> str:
    return (
        "[bold]Examples[/]\n\n"
        f"  gradcli {command} --steps 100\n\n"
        f"  gradcli {command} --model seed --lr 0.001 --steps 3\n\n"
        f"  gradcli {command} --model mlp --momentum 0.9 --every 20\n\n"
        f"  gradcli {command} --steps 500 --format jsonl | jq -c '[.step, .loss]'"
    )


def _training_command(path: str) -> Callable[..., None]:
    """One command per path; both share every option and the engine."""

    def command(
        model: ModelOpt = "linear",
        optimizer: OptimizerOpt = "sgd",
        lr: LrOpt = None,
        momentum: MomentumOpt = None,
        dampening: DampeningOpt = None,
        nesterov: NesterovOpt = None,
        weight_decay: WeightDecayOpt = None,
        maximize: MaximizeOpt = None,
        steps: StepsOpt = 100,
        seed: SeedOpt = 0,
        device: DeviceOpt = "auto",
        dtype: DtypeOpt = "float32",
        every: EveryOpt = 1,
        format: FormatOpt = "auto",
    ) -> None:
        spec = validate(
            RunSpec(
                model=model,
                optimizer=optimizer,
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                nesterov=nesterov,
                weight_decay=weight_decay,
                maximize=maximize,
                steps=steps,
                seed=seed,
                device=device,
                dtype=dtype,
                every=every,
                format=format,
            )
        )
        from gradcli.run import run_training

        run_training(spec, path)

    return command


app.command(
    "optim",
    help="Train with torch.optim: zero_grad(), loss = model(), loss.backward(), step().",
    epilog=_examples("optim"),
)(_training_command("optim"))
app.command(
    "manual",
    help="Train with a hand-written update: autograd computes the gradients, then each "
    "parameter is updated in place under torch.no_grad() and the gradients are zeroed.",
    epilog=_examples("manual"),
)(_training_command("manual"))


def main() -> None:
    app(prog_name="gradcli")
