"""``gradcli step``: training one keypress at a time, full screen (textual).

Options -> one ``RunSpec`` per ``-o`` (as ``compare`` makes them) -> a terminal check ->
``gradcli.train.stepping.Stepper`` on the one loop -> ``gradcli.stepper.app``. textual (an
optional extra) and the engine are imported inside the function: importing this module
imports neither.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from gradcli import optimizers
from gradcli.cli import options as opt
from gradcli.errors import GradcliError
from gradcli.spec import specs_for_compare, split_optimizers

EXAMPLES = opt.examples(
    "gradcli step -m rosenbrock -o adam",
    "gradcli step -m beale -o sgd -o 'SGD(momentum=0.9)' -o adam --explain",
    "gradcli step -m mlp -o adam --state",
)
Optimizers = Annotated[
    list[str] | None,
    typer.Option(
        "--optimizer",
        "-o",
        show_default=False,
        metavar="NAME|CONSTRUCTOR",
        autocompletion=opt.completion(optimizers.names),
        help="The run, or several (repeatable or comma-separated) stepped together: names "
        "or torch's constructors, e.g. -o sgd -o 'SGD(momentum=0.9)' (default: sgd).",
    ),
]
Manual = Annotated[
    bool,
    typer.Option(
        "--manual", help="Start on the hand-written rule (as gradcli manual); m switches."
    ),
]


def step(
    model: opt.Model = "linear",
    optimizer: Optimizers = None,
    lr: opt.Lr = None,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    dtype: opt.Dtype = "float32",
    impl: opt.Impl = None,
    state: opt.State = False,
    explain: opt.Explain = False,
    manual: Manual = False,
    **hyperparameters: Any,
) -> None:
    given = {"lr": lr, **hyperparameters}
    flags = opt.hyperparameter_flags(given)
    options = {
        "model": model,
        "seed": seed,
        "device": device,
        "dtype": dtype,
        "impl": impl,
        "state": state,
        "explain": explain,
        "format": "jsonl",
    }
    texts = split_optimizers(optimizer or ["sgd"], model)
    specs = specs_for_compare(texts, flags, options, None)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise GradcliError(
            "gradcli step needs a terminal on stdin and stdout (it is full screen); for the "
            "records of the same steps use gradcli optim --format jsonl"
        )
    try:
        from gradcli.stepper.app import StepperApp
    except ImportError as missing:
        raise GradcliError(
            f"gradcli step needs textual ({missing}); install it with pip install 'gradcli[step]'"
        ) from None
    from gradcli._startup import collector
    from gradcli.train.stepping import Stepper

    stepper = Stepper(specs, "manual" if manual else "optim")
    collector.resume()
    StepperApp(stepper).run()


step = opt.with_hyperparameter_options(step)
