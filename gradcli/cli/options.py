"""The command-line options shared by the commands, as typed annotations (no torch here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from gradcli.spec import DTYPES, FORMATS, IMPLS, MODELS, OPTIMIZERS


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


def _for(name: str) -> str:
    users = [o for o, hyper in OPTIMIZERS.items() if name in hyper]
    defaults = sorted({str(OPTIMIZERS[o][name]) for o in users})
    return f"[{', '.join(users)}; default {' or '.join(defaults)}]"


def _real_option(name: str, text: str) -> Any:
    return typer.Option(
        f"--{name}",
        parser=_real,
        metavar="FLOAT",
        show_default=False,
        help=f"{text} {_for(name.replace('-', '_'))}",
        rich_help_panel="Optimizer hyperparameters",
    )


def _flag_option(name: str, text: str) -> Any:
    return typer.Option(
        f"--{name}/--no-{name}",
        show_default=False,
        help=f"{text} {_for(name)}",
        rich_help_panel="Optimizer hyperparameters",
    )


Model = Annotated[str, typer.Option("--model", "-m", help=f"Problem: {_choices(MODELS)}.")]
Optimizer = Annotated[
    str, typer.Option("--optimizer", "-o", help=f"Update rule: {_choices(OPTIMIZERS)}.")
]
Lr = Annotated[
    float | None,
    typer.Option(
        "--lr",
        parser=_real,
        metavar="FLOAT",
        show_default=False,
        help="Learning rate, >= 0. (default: the problem's own for the optimizer)",
    ),
]
Momentum = Annotated[float | None, _real_option("momentum", "Momentum μ in [0, 1).")]
Dampening = Annotated[float | None, _real_option("dampening", "Dampening τ in [0, 1].")]
Nesterov = Annotated[
    bool | None, _flag_option("nesterov", "Nesterov momentum (needs μ > 0, τ = 0).")
]
WeightDecay = Annotated[float | None, _real_option("weight-decay", "Weight decay λ >= 0.")]
Maximize = Annotated[bool | None, _flag_option("maximize", "Ascend the loss instead.")]
Beta1 = Annotated[float | None, _real_option("beta1", "First-moment decay β1 in [0, 1).")]
Beta2 = Annotated[float | None, _real_option("beta2", "Second-moment decay β2 in [0, 1).")]
Eps = Annotated[float | None, _real_option("eps", "Term ε >= 0 added to the denominator.")]
Amsgrad = Annotated[bool | None, _flag_option("amsgrad", "Use the running maximum of v.")]
Alpha = Annotated[float | None, _real_option("alpha", "Smoothing constant α in [0, 1].")]
Centered = Annotated[bool | None, _flag_option("centered", "Normalise by the variance.")]
LrDecay = Annotated[float | None, _real_option("lr-decay", "Learning-rate decay >= 0.")]
InitialAccumulatorValue = Annotated[
    float | None, _real_option("initial-accumulator-value", "Starting value of the sum, >= 0.")
]
Steps = Annotated[
    int, typer.Option(parser=_integer, metavar="INT", help="Number of updates, >= 0.")
]
Seed = Annotated[
    int, typer.Option(parser=_integer, metavar="INT", help="Seed for the initial parameters.")
]
Device = Annotated[str, typer.Option(help="auto (CUDA when available), cpu, cuda, cuda:N.")]
Dtype = Annotated[str, typer.Option(help=f"Parameter and data dtype: {_choices(DTYPES)}.")]
Every = Annotated[
    int,
    typer.Option(
        parser=_integer,
        metavar="INT",
        help="Print every Nth step (step 0 and the last are always printed).",
    ),
]
Format = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        rich_help_panel="Output",
        help=f"{_choices(FORMATS)}; auto is a table on a terminal, JSON lines otherwise.",
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        rich_help_panel="Output",
        help="Nothing on stderr unless something goes wrong.",
    ),
]
Color = Annotated[
    bool | None,
    typer.Option(
        "--color/--no-color",
        show_default=False,
        rich_help_panel="Output",
        help="Force styling on or off (default: on for a terminal, off with NO_COLOR).",
    ),
]
Impl = Annotated[
    str | None,
    typer.Option(
        help=f"torch.optim's implementation: {_choices(IMPLS)} (default: torch's choice; "
        "gradcli optim and compare only)",
        show_default=False,
    ),
]
State = Annotated[bool, typer.Option("--state", help="Add the optimizer state to each step.")]
Explain = Annotated[
    bool,
    typer.Option(
        "--explain",
        help="Show each step's update of every parameter's first element "
        "with the numbers filled into the formula.",
    ),
]
Save = Annotated[
    str | None,
    typer.Option(
        metavar="FILE",
        show_default=False,
        rich_help_panel="Checkpoints and config",
        help="Write a checkpoint here at the end of the run (and on Ctrl-C).",
    ),
]
Resume = Annotated[
    str | None,
    typer.Option(
        metavar="FILE",
        show_default=False,
        rich_help_panel="Checkpoints and config",
        help="Go on from this checkpoint: --steps more steps, numbered on from it.",
    ),
]
Config = Annotated[
    str | None,
    typer.Option(
        metavar="FILE.toml",
        show_default=False,
        rich_help_panel="Checkpoints and config",
        help="Read options from this TOML file (options given here win).",
    ),
]
PrintConfig = Annotated[
    bool,
    typer.Option(
        "--print-config",
        rich_help_panel="Checkpoints and config",
        help="Print the effective configuration as TOML (for --config) and exit.",
    ),
]
