"""The command-line options shared by the commands, as typed annotations (no torch here),
each defined once: ``--format`` (``format_option``, one per set of formats), ``--quiet``,
``--color``, the plot options, the run's options; and what turns them into values for the
layers below: ``output_of`` (the output options as an ``Output``, the format checked),
``pictures_of`` (``--plot``, ``--plot-file``), ``hyperparameter_flags``.

The options that set an optimizer's hyperparameters are not written here: they are made
from the catalog (``hyperparameter_options``), one per keyword any optimizer takes, so a new
optimizer module brings its options with it.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer

from gradcli import optimizers, schedules
from gradcli.errors import GradcliError
from gradcli.optimizers.catalog import Flag, Integer, Real, plain
from gradcli.output import Output
from gradcli.spec import (
    DATA_MODELS,
    DATASETS,
    DDP_MODELS,
    DTYPES,
    FORMATS,
    IMPLS,
    LOSSES,
    MODELS,
    SCHEDULE_PER,
    TASKS,
    check_model,
)


def integer(value: str | int) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an integer") from None


def real(value: str | float) -> float:
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a number") from None


def _choices(names: Sequence[str] | dict[str, Any]) -> str:
    return ", ".join(names)


def completion(*values: str | Callable[[], Iterable[str]]) -> Callable[[str], list[str]]:
    """Shell completion of an option's or argument's value (``-o <TAB>``): the values
    given, or made by a callable at completion time. Nothing here may import torch."""

    def complete(incomplete: str) -> list[str]:
        found = [v for given in values for v in ([given] if isinstance(given, str) else given())]
        return [v for v in found if v.startswith(incomplete)]

    return complete


def model_files() -> list[str]:
    """``file.py:`` for each Python file here: the start of ``--model file.py:FACTORY``."""
    return sorted(f"{p.name}:" for p in Path.cwd().glob("*.py"))


MODEL_COMPLETION = completion(*MODELS, model_files)
OPTIMIZER_COMPLETION = completion(optimizers.names)
SCHEDULE_COMPLETION = completion(schedules.names)


YOUR_MODEL = (
    "your own: module:FACTORY or path/to/file.py:FACTORY, FACTORY() returning an nn.Module "
    "whose forward() returns the loss"
)
Model = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        autocompletion=MODEL_COMPLETION,
        help=f"Problem: {_choices(MODELS)}, or {YOUR_MODEL}.",
    ),
]
DdpModel = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        autocompletion=completion(*DDP_MODELS, model_files),
        help=f"A problem with data to shard across the workers: {_choices(DDP_MODELS)}, or "
        f"{YOUR_MODEL}, with samples() and shard(rank, world) as the built-ins have. With "
        "--data, a network as --data says, each rank on its own batches.",
    ),
]
Optimizer = Annotated[
    str,
    typer.Option(
        "--optimizer",
        "-o",
        metavar="NAME|CONSTRUCTOR",
        autocompletion=OPTIMIZER_COMPLETION,
        help="An optimizer of torch.optim by name (sgd, Adam, ...) or as torch's constructor: "
        "'Adam(lr=0.01, betas=(0.9, 0.99))'. Options below win over the same keyword. "
        "(gradcli optimizers lists them.)",
    ),
]
Lr = Annotated[
    float | None,
    typer.Option(
        "--lr",
        parser=real,
        metavar="FLOAT",
        show_default=False,
        help="Learning rate, >= 0. (default: the problem's own for the optimizer)",
    ),
]


def lr_or_auto(value: str | float) -> float | str:
    """``--lr`` of optim and manual: a number, or ``auto`` (lr-find's suggestion)."""
    return "auto" if isinstance(value, str) and value.strip() == "auto" else real(value)


AutoLr = Annotated[
    float | None,
    typer.Option(
        "--lr",
        parser=lr_or_auto,
        metavar="FLOAT|auto",
        show_default=False,
        help="Learning rate, >= 0, or auto: the one gradcli lr-find suggests for this run, "
        "found first. (default: the problem's own for the optimizer)",
    ),
]
Steps = Annotated[int, typer.Option(parser=integer, metavar="INT", help="Number of updates, >= 0.")]
Seed = Annotated[
    int, typer.Option(parser=integer, metavar="INT", help="Seed for the initial parameters.")
]
Device = Annotated[
    str,
    typer.Option(
        autocompletion=completion("auto", "cpu", "cuda"),
        help="auto (CUDA when available), cpu, cuda, cuda:N.",
    ),
]
Dtype = Annotated[
    str,
    typer.Option(
        autocompletion=completion(*DTYPES), help=f"Parameter and data dtype: {_choices(DTYPES)}."
    ),
]
Every = Annotated[
    int | None,
    typer.Option(
        parser=integer,
        metavar="INT",
        show_default=False,
        help="Print every Nth step; step 0 and the last are always printed (default: every "
        "step in jsonl, csv and tsv; about ten step tables in a table).",
    ),
]


def format_option(*formats: str, help: str | None = None) -> Any:
    """The one ``--format``/``-f`` option: ``formats`` offered to shell completion, and
    ``help`` (default: the formats, auto explained). A command checks the value it gets with
    ``output_of(..., formats)``, so completion, help and check name the same formats."""
    return Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            rich_help_panel="Output",
            autocompletion=completion(*formats),
            help=help
            or f"{_choices(formats)}; auto is a table on a terminal, JSON lines otherwise.",
        ),
    ]


Format = format_option(*FORMATS)
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
        autocompletion=completion(*IMPLS),
        help=f"torch.optim's implementation: {_choices(IMPLS)} (default: torch's choice).",
        show_default=False,
    ),
]
# manual's rules repeat torch's for-loop and foreach implementations, not its fused kernels:
# its help offers only those two (--impl fused is refused in one line)
ManualImpl = Annotated[
    str | None,
    typer.Option(
        "--impl",
        autocompletion=completion("forloop", "foreach"),
        help="The rule, written by hand as torch.optim's implementation: forloop, foreach "
        "(default: the one torch.optim picks on the device).",
        show_default=False,
    ),
]
Schedule = Annotated[
    str | None,
    typer.Option(
        metavar="SCHEDULER(...)",
        show_default=False,
        autocompletion=SCHEDULE_COMPLETION,
        rich_help_panel="Schedule and clipping",
        help="A learning-rate scheduler of torch.optim.lr_scheduler in torch's constructor "
        "form, stepped after every update: 'CosineAnnealingLR(T_max=100, eta_min=0.001)', "
        "'OneCycleLR(max_lr=0.1, total_steps=100)'. (gradcli schedule shows one.)",
    ),
]
ClipNorm = Annotated[
    float | None,
    typer.Option(
        parser=real,
        metavar="MAX",
        show_default=False,
        rich_help_panel="Schedule and clipping",
        help="Clip the gradients before each update to a total norm of at most MAX, as "
        "torch.nn.utils.clip_grad_norm_ does.",
    ),
]
NormType = Annotated[
    float | None,
    typer.Option(
        parser=real,
        metavar="P",
        show_default=False,
        rich_help_panel="Schedule and clipping",
        help="The p of --clip-norm's total norm: 2 (default), 1, inf, any p > 0.",
    ),
]
ClipValue = Annotated[
    float | None,
    typer.Option(
        parser=real,
        metavar="V",
        show_default=False,
        rich_help_panel="Schedule and clipping",
        help="Clip each gradient element to [-V, V] before each update, as "
        "torch.nn.utils.clip_grad_value_ does.",
    ),
]
Accumulate = Annotated[
    int,
    typer.Option(
        parser=integer,
        metavar="K",
        rich_help_panel="Accumulation and mixed precision",
        help="Accumulate the gradients of K micro-batches (each loss / K) before each update: "
        "with --data, K batches of --batch-size; else K slices of the problem's data.",
    ),
]
Amp = Annotated[
    str | None,
    typer.Option(
        metavar="bf16|fp16",
        show_default=False,
        rich_help_panel="Accumulation and mixed precision",
        help="Mixed precision: the forward under torch.autocast in bfloat16 or float16; the "
        "weights and gradients stay float32. fp16 scales the loss with a GradScaler and skips "
        "a step whose gradients overflow.",
    ),
]
LossScale = Annotated[
    float,
    typer.Option(
        parser=real,
        metavar="S",
        rich_help_panel="Accumulation and mixed precision",
        help="With --amp fp16: the scale the loss starts at (GradScaler's init_scale); a large "
        "one makes the first steps overflow and be skipped while it halves.",
    ),
]
GrowthInterval = Annotated[
    int,
    typer.Option(
        parser=integer,
        metavar="N",
        rich_help_panel="Accumulation and mixed precision",
        help="With --amp fp16: steps in a row without an inf/NaN before the scale doubles "
        "(GradScaler's growth_interval).",
    ),
]
DATA_PANEL = "Data: mini-batches and epochs"
Data = Annotated[
    str | None,
    typer.Option(
        "--data",
        "-d",
        metavar="NAME|FILE.csv",
        show_default=False,
        autocompletion=completion(*(d for d in DATASETS if d != "FILE.csv")),
        rich_help_panel=DATA_PANEL,
        help=f"Train on a data set in mini-batches: {_choices(DATASETS)}. --model then names "
        f"an architecture ({_choices(DATA_MODELS)}) or FACTORY() returning an nn.Module whose "
        "forward(x) returns outputs.",
    ),
]
Target = Annotated[
    str | None,
    typer.Option(
        metavar="COLUMN",
        show_default=False,
        rich_help_panel=DATA_PANEL,
        help="The column of --data FILE.csv to predict; every other column is an input.",
    ),
]
DataDir = Annotated[
    str | None,
    typer.Option(
        metavar="DIR",
        show_default=False,
        rich_help_panel=DATA_PANEL,
        help="Where MNIST's IDX files are, or are downloaded to once (default: "
        "$GRADCLI_DATA, else the folder NAME in ~/.cache/gradcli).",
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(
        parser=integer,
        metavar="B",
        show_default=False,
        rich_help_panel=DATA_PANEL,
        help="Samples per batch (default: all the training data in one batch).",
    ),
]
Epochs = Annotated[
    int | None,
    typer.Option(
        parser=integer,
        metavar="E",
        show_default=False,
        rich_help_panel=DATA_PANEL,
        help="Passes over the training data; the run is E × batches-per-epoch steps (give "
        "--steps instead to stop at a step, or both when they agree).",
    ),
]
Shuffle = Annotated[
    bool,
    typer.Option(
        "--shuffle/--no-shuffle",
        rich_help_panel=DATA_PANEL,
        help="Draw each epoch's batches in a new order (DataLoader's shuffle=True).",
    ),
]
DropLast = Annotated[
    bool,
    typer.Option(
        "--drop-last",
        rich_help_panel=DATA_PANEL,
        help="Leave out each epoch's last, smaller batch (DataLoader's drop_last=True).",
    ),
]
ValFraction = Annotated[
    float | None,
    typer.Option(
        parser=real,
        metavar="F",
        show_default=False,
        rich_help_panel=DATA_PANEL,
        help="Hold out this fraction of the samples, evaluated after every epoch under "
        "model.eval() and torch.no_grad() (default: the set's own test split, else 0.2; 0: "
        "none).",
    ),
]
DataSeed = Annotated[
    int,
    typer.Option(
        parser=integer,
        metavar="INT",
        rich_help_panel=DATA_PANEL,
        help="Seed of the held-out split and of the DataLoader's generator (the batches' "
        "order); --seed draws the initial parameters only.",
    ),
]
Loss = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        show_default=False,
        autocompletion=completion(*LOSSES),
        rich_help_panel=DATA_PANEL,
        help=f"The loss: {_choices(LOSSES)} (default: cross-entropy for classes, mse for targets).",
    ),
]
Task = Annotated[
    str | None,
    typer.Option(
        metavar="KIND",
        show_default=False,
        autocompletion=completion(*TASKS),
        rich_help_panel=DATA_PANEL,
        help=f"What --data FILE.csv's --target is: {_choices(TASKS)} (default: classes when "
        "it holds at most 20 distinct integers or any text, else regression).",
    ),
]
SchedulePer = Annotated[
    str,
    typer.Option(
        metavar="batch|epoch",
        autocompletion=completion(*SCHEDULE_PER),
        rich_help_panel=DATA_PANEL,
        help="With --data and --schedule: scheduler.step() after every batch, or after every "
        "epoch (ReduceLROnPlateau is then fed the held-out loss).",
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
ShowCode = Annotated[
    bool,
    typer.Option(
        "--show-code",
        help="Print the loop this run executes, as Python, before the first step: torch.optim's "
        "four lines, or the hand-written loop and the source of its update rule.",
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
        help="Go on from this checkpoint with the run it holds (model, optimizer, lr, "
        "seed, dtype; a stopped run's steps left, else --steps more), numbered on from it; "
        "options given here win.",
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
PrintScript = Annotated[
    bool,
    typer.Option(
        "--print-script",
        rich_help_panel="Checkpoints and config",
        help="Print this run as a plain PyTorch script instead of running it: the problem, "
        "the optimizer and the loop, printing the same JSON lines bit for bit.",
    ),
]


Plot = Annotated[
    list[str] | None,
    typer.Option(
        "--plot",
        metavar="PICTURE",
        show_default=False,
        rich_help_panel="Output",
        help="Draw after the run, repeatable or comma-separated: loss, grad-norm, update-norm "
        "(a row per parameter), lr, or path (on the loss surface, for a problem with two "
        "trainable elements). Beside a table on stdout, beside a machine format on stderr.",
    ),
]
ComparePlot = Annotated[
    list[str] | None,
    typer.Option(
        "--plot",
        metavar="PICTURE",
        show_default=False,
        rich_help_panel="Output",
        help="Draw after the run: loss (in the table already; on stderr beside a machine "
        "format), or path (each run's path on the loss surface, for a problem with two "
        "trainable elements).",
    ),
]
PlotFile = Annotated[
    str | None,
    typer.Option(
        "--plot-file",
        metavar="FILE",
        show_default=False,
        rich_help_panel="Output",
        help="Write the pictures (--plot's, else loss, grad-norm and path where it applies) "
        "as a figure: .svg, .png or .pdf (needs matplotlib: pip install 'gradcli[plot]').",
    ),
]

Report = Annotated[
    str | None,
    typer.Option(
        "--report",
        metavar="FILE.html",
        show_default=False,
        rich_help_panel="Output",
        help="Write a one-page HTML report of the run: the command, the settings, the "
        "figures and the summary, self-contained (needs matplotlib: pip install "
        "'gradcli[plot]').",
    ),
]


def output_of(
    format: str, quiet: bool, color: bool | None, formats: Sequence[str] = FORMATS
) -> Output:
    """The output options (``--format``, ``--quiet``, ``--color``) as an ``Output``; a format
    outside ``formats`` is one line and exit 2."""
    if format not in formats:
        raise GradcliError(
            f"--format: unknown format {format!r}; choose one of: {_choices(formats)}"
        )
    return Output(format, quiet, color)


def pictures_of(
    plot: list[str] | None, plot_file: str | None, report: str | None = None, ctx: Any = None
) -> Any:
    """``--plot``, ``--plot-file`` and ``--report`` checked (exit 2 before the run), or None
    when none is given (checked without torch, so a bad value is quick to refuse)."""
    if not plot and plot_file is None and report is None:
        return None
    from gradcli.cli.failures import command_line
    from gradcli.pictures.request import Request

    return Request.of(plot, plot_file, report, "" if ctx is None else command_line(ctx))


def examples(*lines: str) -> str:
    """A command's epilog: its example command lines."""
    return "[bold]Examples[/]\n\n" + "\n\n".join(f"  {line}" for line in lines)


def _literal(value: str | object) -> object:
    """A literal as in Python (``0.9``, ``(0.9, 0.99)``, ``0.9,0.99``, ``None``, ``True``),
    else the text itself (``strong_wolfe``); the catalog checks what the keyword allows."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def _hyperparameter_option(name: str) -> tuple[Any, Callable[..., Any] | None, str]:
    """(annotation, parser, metavar) for the option ``--name``."""
    users = optimizers.options()[name]
    kinds = [h.allowed if part is None else h.allowed.parts[part] for _, h, part in users]  # type: ignore[union-attr]
    if all(isinstance(k, Flag) for k in kinds):
        return bool | None, None, ""
    if all(isinstance(k, Real) for k in kinds):
        return float | None, real, "FLOAT"
    if all(isinstance(k, Integer) for k in kinds):
        return int | None, integer, "INT"
    return Any, _literal, kinds[0].metavar


@cache
def hyperparameter_options() -> tuple[inspect.Parameter, ...]:
    """One keyword-only parameter per hyperparameter option, for a command's signature
    (made once for the four commands that take them: Typer copies what it reads)."""
    parameters = []
    for name, users in optimizers.options().items():
        annotation, parser, metavar = _hyperparameter_option(name)
        meanings: dict[str, list[str]] = {}  # one keyword may mean different things
        for o, h, part in users:
            meaning = h.help if part is None else f"Part {part + 1} of {h.name}."
            meanings.setdefault(meaning, []).append(o.name)
        if len(meanings) == 1:
            (meaning,) = meanings
        else:
            meaning = " ".join(f"{', '.join(names)}: {text}" for text, names in meanings.items())
        defaults = [h.default if part is None else h.default[part] for _, h, part in users]  # type: ignore[index]
        takers = list(dict.fromkeys(o.name for o, _, _ in users))
        others = [o for o in optimizers.names() if o not in takers]
        who = ", ".join(takers) if len(others) >= len(takers) else "all but " + ", ".join(others)
        default = (
            f"default {plain(defaults[0])}"
            if len(set(map(repr, defaults))) == 1
            else "torch's default for each"
        )
        help = f"{meaning} \\[{who or 'all'}; {default}]"
        dashed = name.replace("_", "-")
        if parser is not None:
            declaration = f"--{dashed}"
        elif any(defaults):  # a switch that is on somewhere (Muon's nesterov) can be turned off
            declaration = f"--{dashed}/--no-{dashed}"
        else:  # off everywhere: turning it on is all an option can mean
            declaration = f"--{dashed}"
        option = typer.Option(
            declaration,
            parser=parser,
            metavar=metavar,
            show_default=False,
            help=help,
            rich_help_panel="Optimizer hyperparameters",
        )
        parameters.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[annotation, option],
            )
        )
    return tuple(parameters)


def with_hyperparameter_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command(..., **hyperparameters)`` with one option per hyperparameter in its
    signature, which is what Typer reads."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *hyperparameter_options()]
    )
    return command


def hyperparameter_flags(options: dict[str, Any]) -> dict[str, Any]:
    """Take ``--lr`` and the options that set a hyperparameter out of ``options``."""
    return {name: options.pop(name) for name in ["lr", *optimizers.options()] if name in options}


# --model of the commands that inspect a module (params, graph)
InspectModel = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        autocompletion=completion("demo", *MODELS, model_files),
        help="demo (one tensor of each kind), " + ", ".join(MODELS) + f", or {YOUR_MODEL}.",
    ),
]


def inspected_model(model: str) -> str:
    """``--model`` of params and graph, checked: demo, a built-in, or a user's factory."""
    check_model(model, ("demo", *MODELS))
    return model


# the options of optim, manual and compare that are not part of the run spec
NOT_RUN_OPTIONS = ("ctx", "path", "config", "print_config", "print_script", "hyperparameters")
NOT_RUN_OPTIONS += ("plot", "plot_file", "report", "pictures")  # pictures: after the run
