"""``gradcli params``: what a module holds and what each tensor takes part in."""

from __future__ import annotations

from gradcli.cli import options as opt

EXAMPLES = opt.examples(
    "gradcli params",
    "gradcli params --model mlp",
    "gradcli params --format jsonl | jq -c 'select(.changed_by_step)'",
)


def params(
    model: opt.InspectModel = "demo",
    format: opt.Format = "auto",
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = opt.output_of(format, quiet, color)
    from gradcli.lessons import source_of, tensors_of
    from gradcli.render import lessons as shown
    from gradcli.render import show_rows

    module, rows, found = tensors_of(opt.inspected_model(model))
    show_rows(
        output,
        lambda console: shown.params_table(console, model, rows, found, source_of(module)),
        lambda fmt: shown.param_dicts(rows),
    )
