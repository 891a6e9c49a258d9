"""The command line: options in, a validated RunSpec to the engine, records to a sink.

This module must not import torch at import time: ``gradcli --help`` and shell
completion stay fast. Commands import the engine inside their bodies.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup

from gradcli.errors import EXIT_CLOSED_PIPE, EXIT_IO_ERROR, GradcliError

try:  # typer >= 0.29 vendors click; older releases raise click's own exceptions
    from typer import TyperException as _CommandLineError
except ImportError:  # pragma: no cover
    from click import ClickException as _CommandLineError
from gradcli import optimizers
from gradcli._startup import coercion, collector
from gradcli.cli import options as opt
from gradcli.cli.resumed import with_checkpoint_run
from gradcli.config import load as load_config
from gradcli.config import to_toml
from gradcli.output import Output
from gradcli.spec import (
    FORMATS,
    MODELS,
    PITFALLS,
    RunSpec,
    check_model,
    choose_optimizer,
    specs_for_compare,
    split_optimizers,
    validate,
)
from gradcli.streams import encoding_failure


class GradcliGroup(TyperGroup):
    """Turns every way a run can end into one line on stderr and an exit status."""

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
            sys.stdout.flush()  # a closed pipe must show up here, not at interpreter exit
            if code == 130:  # Ctrl-C before the run loop (typer turns it into Exit(130))
                code = _fail("gradcli: interrupted", 130)
        except (BrokenPipeError, _ClosedPipe):
            code = _closed_pipe()
        except SystemExit as error:  # rich ends a closed pipe with exit 1 itself (--help | head)
            if not isinstance(error.__context__, BrokenPipeError):
                raise
            code = _closed_pipe()
        except GradcliError as error:
            code = _fail(f"gradcli: {error.label}: {error}", error.exit_code)
        except _CommandLineError as error:
            ctx = getattr(error, "ctx", None)
            where = ctx.command_path if ctx is not None else self._command_path(args)
            message = " ".join(error.format_message().split())
            code = _fail(
                f"gradcli: error: {message} (see '{where} --help')", getattr(error, "exit_code", 2)
            )
        except (typer.Abort, KeyboardInterrupt, _StoppedNow) as error:
            code = _fail("gradcli: interrupted", 128 + getattr(error, "signum", 2))
        except UnicodeEncodeError as error:  # stdout's encoding lacks a character of the data
            _drop_stdout()
            code = _fail(encoding_failure(error), EXIT_IO_ERROR)
        except OSError as error:  # stdout could not take the data: a full disk, /dev/full
            _drop_stdout()
            reason = error.strerror or type(error).__name__
            code = _fail(f"gradcli: error: cannot write the output: {reason}", EXIT_IO_ERROR)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code

    def _command_path(self, args: Sequence[str] | None) -> str:
        """``gradcli optim`` for an error that comes without its context (an option missing
        its value is found by the parser, before the command's context exists)."""
        given = sys.argv[1:] if args is None else args
        name = next((a for a in given if a in self.commands), None)
        return "gradcli" if name is None else f"gradcli {name}"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _before_parsing(self, ctx)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            _before_parsing(command, ctx)
        return name, command, rest

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as error:
            # typer would print nothing and exit 1; gradcli documents 141
            raise _ClosedPipe from error
        except KeyboardInterrupt as error:  # typer would make it exit 130, whatever the signal
            raise _StoppedNow(getattr(error, "signum", 2)) from None


def _before_parsing(command: Any, ctx: Any) -> None:
    """Ready ``command`` for its arguments (and ``--help``, printed while parsing): its values
    converted by gradcli (see coercion.py), and argparse-style placeholders in the help where
    an option names none — a value option shows its name in capitals (``--device DEVICE``), a
    flag nothing — where Typer 0.29 would print ``<str>`` and ``<bool>`` (and an argument
    its name alone, ``NAME``, not ``NAME <str>``)."""
    coercion.install(command, ctx)
    if "format_help" not in vars(command):
        command.format_help = _fitting_help(command.format_help)
    for param in command.get_params(ctx):
        descriptor = getattr(param, "type_descriptor", None)
        if param.metavar is None and descriptor is not None:
            param.metavar = "" if descriptor.annotation is bool else param.name.upper()
        if isinstance(param, TyperArgument):  # NAME is its placeholder: no <str> beside it
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


def _fitting_help(format_help: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """``format_help`` with typer's option tables sized so that no option name is cut."""

    def fitting(ctx: Any, formatter: Any) -> None:
        from typer import rich_utils

        from gradcli.render.fit import FittingTable

        rich_utils.Table = FittingTable  # type: ignore[misc]
        format_help(ctx, formatter)

    return fitting


class _ClosedPipe(Exception):
    """stdout's reader went away."""


class _StoppedNow(Exception):
    """A second signal stopped the run at once (typer turns a KeyboardInterrupt into 130)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _fail(line: str, code: int) -> int:
    try:
        sys.stdout.flush()  # what was produced goes out before the last word
    except BrokenPipeError:
        return _closed_pipe()
    except OSError:  # a terminal gone (SIGHUP): what is left cannot be written
        _drop_stdout()
    with contextlib.suppress(OSError):  # stderr gone too (a closed terminal): the status tells
        print(line, file=sys.stderr)
    return code


def _closed_pipe() -> int:
    """The reader went away (``| head``): stop quietly."""
    _drop_stdout()
    return EXIT_CLOSED_PIPE


def _drop_stdout() -> None:
    """Whatever is still buffered for stdout is dropped, so that the flush at interpreter
    exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (in-process tests)


app = typer.Typer(
    cls=GradcliGroup,
    name="gradcli",
    help="Make one step of neural-network training visible: loss, gradients, parameters "
    "and updates, by hand (manual) and with torch.optim (optim).",
    invoke_without_command=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},  # every command inherits it
)


def _version(asked: bool) -> None:
    """``gradcli --version``: gradcli's, torch's and Python's versions, and whether CUDA is
    there — what a bug report needs. The one option outside a command that imports torch."""
    if not asked:
        return
    import platform

    import torch

    from gradcli import __version__

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        cuda = f"CUDA {torch.version.cuda} available: {count} device" + "s" * (count != 1)
        cuda += f" ({torch.cuda.get_device_name(0)})"
    elif torch.version.cuda is None:
        cuda = "CUDA not available (a CPU-only build)"
    else:
        cuda = f"CUDA not available (built for CUDA {torch.version.cuda}; no GPU found)"
    typer.echo(f"gradcli {__version__}")
    typer.echo(f"torch {torch.__version__}, {cuda}")
    typer.echo(f"Python {platform.python_version()} ({platform.python_implementation()})")
    raise typer.Exit()


@app.callback()
def _top(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_version,
            help="Show the versions of gradcli, torch and Python, whether CUDA is available, "
            "and exit.",
        ),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def _examples(*lines: str) -> str:
    return "[bold]Examples[/]\n\n" + "\n\n".join(f"  {line}" for line in lines)


def _training_command(path: str) -> Callable[..., None]:
    """One command per path; both share every option and the engine."""

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
        pictures = _pictures(plot, plot_file)
        given = {
            **{k: v for k, v in locals().items() if k not in _NOT_RUN_OPTIONS},
            **hyperparameters,
        }
        merged = with_checkpoint_run(ctx, _with_config(ctx, given, config))
        with _blame_config(ctx, config):
            flags = _hyperparameter_flags(merged)
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


MAX_TIMEOUT = 365 * 24 * 3600  # a year, in seconds: ddp's --timeout at most

_NOT_RUN_OPTIONS = ("ctx", "path", "config", "print_config", "print_script", "hyperparameters")
_NOT_RUN_OPTIONS += ("plot", "plot_file", "pictures")  # --plot, --plot-file: after the run


def _pictures(plot: list[str] | None, plot_file: str | None) -> Any:
    """--plot and --plot-file checked (exit 2 before the run), or None when not given."""
    if not plot and plot_file is None:
        return None  # (nothing imported: the request module needs torch)
    from gradcli.pictures.live import Request

    return Request.of(plot, plot_file)


def _hyperparameter_flags(options: dict[str, Any]) -> dict[str, Any]:
    """Take ``--lr`` and the options that set a hyperparameter out of ``options``."""
    return {name: options.pop(name) for name in ["lr", *optimizers.options()] if name in options}


app.command(
    "optim",
    help="Train with torch.optim: zero_grad(), loss = model(), loss.backward(), step().",
    epilog=_examples(
        "gradcli optim --steps 100",
        "gradcli optim --model seed --lr 0.001 --steps 3 --explain",
        "gradcli optim --model mlp -o adam --state --every 20",
        "gradcli optim -o adam --impl foreach --steps 500 --format jsonl | jq -c '[.step, .loss]'",
    ),
)(_training_command("optim"))
app.command(
    "manual",
    help="Train with a hand-written update: autograd computes the gradients, then each "
    "parameter is updated in place under torch.no_grad() and the gradients are dropped "
    "(set to None, as optimizer.zero_grad() does).",
    epilog=_examples(
        "gradcli manual --steps 100",
        "gradcli manual --model seed --lr 0.001 --steps 3 --explain",
        "gradcli manual --model mlp -o adam --state --every 20",
        "gradcli manual --model rosenbrock -o rmsprop --centered --format jsonl | jq .loss",
    ),
)(_training_command("manual"))


def _with_config(
    ctx: typer.Context, given: dict[str, Any], path: str | None, *, compare: bool = False
) -> dict[str, Any]:
    """Defaults < the config file < options given on the command line."""
    if path is None:
        return dict(given)

    merged = dict(given)
    for key, value in load_config(path, allow_list_optimizer=compare).items():
        if key not in given:
            raise GradcliError(f"{path}: key {key!r} does not apply to gradcli {ctx.info_name}")
        source = ctx.get_parameter_source(key)
        if source is None or source.name not in ("COMMANDLINE", "ENVIRONMENT", "PROMPT"):
            merged[key] = value
            ctx.meta.setdefault("from_config", set()).add(key)
    return merged


@contextmanager
def _blame_config(ctx: typer.Context, path: str | None) -> Iterator[None]:
    """A bad value that came from the config file: say which file."""
    try:
        yield
    except GradcliError as error:
        option = str(error).split(maxsplit=1)[0].rstrip(":").lstrip("-").replace("-", "_")
        if path is not None and option in ctx.meta.get("from_config", ()):
            raise type(error)(f"{path}: {error}") from None
        raise


@app.command(
    "compare",
    help="Run several optimizers by hand and with torch.optim from the same start; show "
    "their losses, how far the two paths drift apart (0 = bit for bit) and the loss curves.",
    epilog=_examples(
        "gradcli compare",
        "gradcli compare --model rosenbrock -o sgd,adam,rmsprop --steps 300 --tol 0.01",
        "gradcli compare -o adam --impl fused --dtype float64",
        "gradcli compare -o sgd -o adam --format jsonl | jq -c 'select(.max_ulps > 0)'",
    ),
)
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
            parser=opt._real,
            metavar="FLOAT",
            show_default=False,
            help="Report the steps each method needs to reach this loss.",
        ),
    ] = None,
    impl: opt.Impl = None,
    schedule: opt.Schedule = None,
    clip_norm: opt.ClipNorm = None,
    norm_type: opt.NormType = None,
    clip_value: opt.ClipValue = None,
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
    config: opt.Config = None,
    print_config: opt.PrintConfig = False,
    plot: opt.ComparePlot = None,
    plot_file: opt.PlotFile = None,
    **hyperparameters: Any,
) -> None:
    pictures = _pictures(plot, plot_file)
    given = {
        **{k: v for k, v in locals().items() if k not in _NOT_RUN_OPTIONS},
        **hyperparameters,
    }
    merged = _with_config(ctx, given, config, compare=True)
    chosen = merged.pop("optimizer")
    tol = merged.pop("tol")
    with _blame_config(ctx, config):
        texts = split_optimizers(
            chosen if isinstance(chosen, list) or chosen is None else [chosen], merged["model"]
        )
        flags = _hyperparameter_flags(merged)
        specs = specs_for_compare(texts, flags, merged, tol)

    if print_config:
        typer.echo(to_toml(specs, {"tol": tol}, keys=given), nl=False)
        return
    from gradcli.train.run import run_compare

    run_compare(specs, tol, pictures)


compare = opt.with_hyperparameter_options(compare)


@app.command(
    "optimizers",
    help="The optimizers gradcli writes by hand, with torch's keywords and defaults; with "
    "NAME, its update rule as math, every keyword's default, range and meaning, and its state.",
    epilog=_examples(
        "gradcli optimizers",
        "gradcli optimizers adam",
        "gradcli optimizers --format jsonl | jq -r .name",
    ),
)
def optimizers_command(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            autocompletion=opt.OPTIMIZER_COMPLETION,
            help="An optimizer's name.",
            show_default=False,
        ),
    ] = None,
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = _output(format, quiet, color, FORMATS)
    from gradcli.render.optimizers import list_optimizers, show_optimizer

    if name is None:
        list_optimizers(output)
    else:
        show_optimizer(optimizers.find(name, "optimizers NAME"), output)


@app.command(
    "schedule",
    help="A learning-rate scheduler of torch.optim.lr_scheduler, in torch's constructor "
    "syntax: the lr of each training step (and the momentum or β1 it sets) computed by hand "
    "and by torch, side by side, with whether they agree bit for bit and the curve.",
    epilog=_examples(
        "gradcli schedule 'StepLR(step_size=30, gamma=0.5)' --steps 100",
        "gradcli schedule 'OneCycleLR(max_lr=0.1, total_steps=100)' -o adam",
        "gradcli schedule 'SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=5), "
        "CosineAnnealingLR(T_max=95)], milestones=[5])'",
        "gradcli schedule 'ReduceLROnPlateau(patience=2)' --losses 3,2,1.5,1.5,1.5,1.5,1.4",
        "gradcli schedule 'CosineAnnealingLR(T_max=50)' --format jsonl | jq -c '[.step, .lr]'",
    ),
)
def schedule(
    scheduler: Annotated[
        str,
        typer.Argument(
            metavar="SCHEDULER",
            help="torch's constructor with torch's keywords, the optimizer left out: "
            "'StepLR(step_size=30)': any scheduler of torch.optim.lr_scheduler that needs no "
            "Python function (a name it does not know lists them all).",
            show_default=False,
        ),
    ],
    steps: Annotated[
        int | None,
        typer.Option(
            parser=opt._integer,
            metavar="INT",
            show_default=False,
            help="Training steps, >= 1 (default: 100, or one per --losses value).",
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            parser=opt._real,
            metavar="FLOAT",
            show_default=False,
            help="The optimizer's lr, which the schedule starts from (default: 0.1).",
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
    ] = "SGD(momentum=0.9)",
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
    output = _output(format, quiet, color, FORMATS)
    from gradcli.render.schedules import show_schedule
    from gradcli.schedules.side_by_side import run

    spec, rows, key, note = run(scheduler, steps, lr, optimizer, losses)
    show_schedule(spec, rows, key, output, note)


@app.command(
    "plot",
    help="Draw runs from gradcli's JSON lines (one run per FILE; - or none: stdin): the loss, "
    "each parameter's gradient norm and, for a problem with two trainable elements, the "
    "path on its loss surface. No torch needed.",
    epilog=_examples(
        "gradcli optim -m mlp -f jsonl | gradcli plot -",
        "gradcli optim -m rosenbrock -o adam -f jsonl | tee adam.jsonl | gradcli plot",
        "gradcli plot sgd.jsonl adam.jsonl --plot loss,path",
        "gradcli plot run.jsonl --plot grad-norm,update-norm --plot-file run.svg",
    ),
)
def plot_command(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FILE",
            show_default=False,
            help="JSON lines of gradcli optim or manual, one run each (of gradcli compare: "
            "one run per label); - is stdin.",
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            metavar="TEXT",
            show_default=False,
            help="A run's name in the legends, repeatable, in the order of the files "
            "(default: the file's name).",
        ),
    ] = None,
    plot: Annotated[
        list[str] | None,
        typer.Option(
            "--plot",
            metavar="PICTURE",
            show_default=False,
            help="The pictures, repeatable or comma-separated: loss, grad-norm, update-norm, "
            "lr, or path (default: loss, path where the records hold two elements, grad-norm).",
        ),
    ] = None,
    surface: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            show_default=False,
            help="The loss surface under the path: rosenbrock, beale, himmelblau, rastrigin, "
            "none (default: the built-in whose start the records start from).",
        ),
    ] = None,
    plot_file: opt.PlotFile = None,
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    from gradcli.pictures.saved import run

    run(files or [], label or [], plot, surface, plot_file, Output("table", quiet, color))


@app.command(
    "diff",
    help="Compare two runs' JSON lines record by record, like cmp: exit 0 when every record "
    "agrees bit for bit, 1 at the first difference (the step, parameter, field, both values, "
    "the gap in absolute terms and ULPs), then how the gap grows.",
    epilog=_examples(
        "gradcli diff manual.jsonl optim.jsonl",
        "gradcli diff <(gradcli manual -o adam -f jsonl) <(gradcli optim -o adam --impl fused "
        "-f jsonl)",
        "gradcli diff a.jsonl b.jsonl --format jsonl | jq -c 'select(.identical | not)'",
    ),
)
def diff_command(
    a: Annotated[str, typer.Argument(metavar="A", help="JSON lines of one run (- is stdin).")],
    b: Annotated[str, typer.Argument(metavar="B", help="JSON lines of the other run.")],
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            rich_help_panel="Output",
            help="text (the first difference and how the gap grows), jsonl (one object per "
            "record pair).",
        ),
    ] = "text",
    quiet: opt.Quiet = False,
) -> None:
    from gradcli.diff_command import run

    raise typer.Exit(run(a, b, format, quiet))


InspectModel = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        autocompletion=opt.completion("demo", *MODELS, opt.model_files),
        help="demo (one tensor of each kind), " + ", ".join(MODELS) + f", or {opt.YOUR_MODEL}.",
    ),
]


def _output(fmt: str, quiet: bool, color: bool | None, formats: tuple[str, ...]) -> Output:
    if fmt not in formats:
        raise GradcliError(f"--format: unknown format {fmt!r}; choose one of: {', '.join(formats)}")
    return Output(fmt, quiet, color)


def _inspect_model(model: str) -> str:
    check_model(model, ("demo", *MODELS))
    return model


@app.command(
    "params",
    help="What a module holds — Parameter, frozen Parameter, buffers, plain tensor attributes — "
    "and what each takes part in, found by doing it on a copy of the model.",
    epilog=_examples(
        "gradcli params",
        "gradcli params --model mlp",
        "gradcli params --format jsonl | jq -c 'select(.changed_by_step)'",
    ),
)
def params(
    model: InspectModel = "demo",
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = _output(format, quiet, color, FORMATS)
    from gradcli.lessons import run_params

    run_params(_inspect_model(model), output)


@app.command(
    "graph",
    help="The autograd graph behind the loss, from its grad_fn down to the AccumulateGrad "
    "leaves of the parameters.",
    epilog=_examples(
        "gradcli graph",
        "gradcli graph --model mlp",
        "gradcli graph --format dot | dot -Tpng > graph.png",
    ),
)
def graph(
    model: InspectModel = "demo",
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            rich_help_panel="Output",
            autocompletion=opt.completion(*FORMATS, "dot"),
            help=f"{', '.join(FORMATS)}, dot (Graphviz).",
        ),
    ] = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = _output(format, quiet, color, (*FORMATS, "dot"))
    from gradcli.lessons import run_graph

    run_graph(_inspect_model(model), output)


@app.command(
    "pitfalls",
    help="Classic mistakes run beside the correct code on the same tensors. Without NAME, "
    "the list: " + ", ".join(PITFALLS) + ".",
    epilog=_examples(
        "gradcli pitfalls",
        "gradcli pitfalls data-zero",
        "gradcli pitfalls no-zero-grad --format jsonl",
    ),
)
def pitfalls(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            autocompletion=opt.completion(*PITFALLS),
            help="The pitfall to run.",
            show_default=False,
        ),
    ] = None,
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = _output(format, quiet, color, FORMATS)
    if name is None:  # the list: no torch, so it answers at once
        from gradcli.render.lessons import list_pitfalls

        list_pitfalls(output)
        return
    if name not in PITFALLS:
        raise GradcliError(f"unknown pitfall {name!r}; choose one of: {', '.join(PITFALLS)}")
    from gradcli.lessons import run_pitfalls

    run_pitfalls(name, output)


@app.command(
    "ddp",
    help="Data-parallel training on torch.distributed: N workers, one shard of the data each, "
    "gradients averaged by hand (all_reduce) or by DistributedDataParallel; rank 0 shows each "
    "rank's gradient, the average, and that the parameters agree on every rank.",
    epilog=_examples(
        "gradcli ddp --nproc 2 --steps 5",
        "gradcli ddp --nproc 2 --path ddp --model mlp -o adam --every 10",
        "torchrun --nproc-per-node 2 -m gradcli ddp --path ddp",
        "gradcli ddp --nproc 4 --format jsonl | jq -c '[.step, .max_param_diff_across_ranks]'",
    ),
)
def ddp(
    nproc: Annotated[
        int,
        typer.Option(parser=opt._integer, metavar="INT", help="Worker processes on this machine."),
    ] = 2,
    path: Annotated[
        str,
        typer.Option(
            metavar="manual|ddp",
            autocompletion=opt.completion("manual", "ddp"),
            help="How the gradients are averaged: manual (all_reduce by hand), "
            "ddp (DistributedDataParallel).",
        ),
    ] = "manual",
    timeout: Annotated[
        float,
        typer.Option(parser=opt._real, metavar="SECONDS", help="Timeout of every collective."),
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
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            rich_help_panel="Output",
            autocompletion=opt.completion("auto", "table", "jsonl"),
            help="auto (a table on a terminal, JSON lines otherwise), table, jsonl.",
        ),
    ] = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
    **hyperparameters: Any,
) -> None:
    given = {
        k: v
        for k, v in locals().items()
        if k not in ("nproc", "path", "timeout", "hyperparameters")
    }
    flags = {"lr": given.pop("lr"), **hyperparameters}
    if format not in ("auto", "table", "jsonl"):
        raise GradcliError(
            f"--format: unknown format {format!r}; choose one of: auto, table, jsonl"
        )
    if path not in ("manual", "ddp"):
        raise GradcliError(f"--path: unknown path {path!r}; choose one of: manual, ddp")
    if not 1 <= nproc <= 64:
        raise GradcliError(f"--nproc must be an integer in [1, 64], got {nproc}")
    if not 0 < timeout <= MAX_TIMEOUT:  # (False for nan; inf is no timedelta)
        raise GradcliError(
            f"--timeout must be a number of seconds in (0, {MAX_TIMEOUT}], got {timeout}"
        )
    name, lr, settings = choose_optimizer(given.pop("optimizer"), flags)
    spec = validate(RunSpec(optimizer=name, lr=lr, settings=settings, **given))
    from gradcli.ddp import DdpOptions, launch

    launch(spec, DdpOptions(nproc, path, timeout))


ddp = opt.with_hyperparameter_options(ddp)


def main() -> None:
    collector.pause()  # until the run starts: see gradcli/_startup/collector.py
    app(prog_name="gradcli")
