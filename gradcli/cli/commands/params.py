"""``gradcli params``: what a module holds and what each tensor takes part in."""

from __future__ import annotations

from typing import Annotated

import typer

from gradcli.cli import options as opt
from gradcli.spec import MODELS, check_model

HELP = (
    "What a module holds — Parameter, frozen Parameter, buffers, plain tensor attributes — "
    "and what each takes part in, found by doing it on a copy of the model."
)
EXAMPLES = opt.examples(
    "gradcli params",
    "gradcli params --model mlp",
    "gradcli params --format jsonl | jq -c 'select(.changed_by_step)'",
)

# --model of the commands that inspect a module (params, graph)
InspectModel = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        autocompletion=opt.completion("demo", *MODELS, opt.model_files),
        help="demo (one tensor of each kind), " + ", ".join(MODELS) + f", or {opt.YOUR_MODEL}.",
    ),
]


def inspected_model(model: str) -> str:
    """``--model`` of params and graph, checked: demo, a built-in, or a user's factory."""
    check_model(model, ("demo", *MODELS))
    return model


def params(
    model: InspectModel = "demo",
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = opt.output_of(format, quiet, color)
    from gradcli.lessons import source_of, tensors_of
    from gradcli.render import lessons as shown
    from gradcli.render import show_rows

    module, rows, found = tensors_of(inspected_model(model))
    show_rows(
        output,
        lambda console: shown.params_table(console, model, rows, found, source_of(module)),
        lambda fmt: shown.param_dicts(rows),
    )
