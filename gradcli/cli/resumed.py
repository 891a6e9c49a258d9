"""``--resume FILE`` on its own goes on with the run the checkpoint holds.

A checkpoint never chooses code that runs: one trained on a user's ``--model
module:factory`` or ``file.py:factory`` is resumed only when the command line (or the
user's config file) names that model again.

A checkpoint keeps its run's configuration; the options that make the run (the model, the
optimizer with its lr and hyperparameters, the steps, the seed, the dtype, the
implementation, the data, --accumulate, --amp and its scaler's options) come from there
unless given on the command line or in a config file. The steps: a run that ended goes on
for as many steps again; a run that was stopped (Ctrl-C, a signal, a closed pipe, the
model's failure) is finished, its steps left made. What is given wins, and is checked
against the checkpoint where it must match (the model, the optimizer, the dtype: see
``gradcli.train.checkpoint.restore``; --amp: ``restore_scaler``).
"""

from __future__ import annotations

from typing import Any

import typer

from gradcli.config import accepts, option_types
from gradcli.errors import GradcliError
from gradcli.spec import constructor

RUN_OPTIONS = (
    "model",
    "steps",
    "seed",
    "dtype",
    "impl",
    # the data and its batches: a run goes on with the same ones
    "data",  # (a file read, never code; --data-dir, where files are written, is not taken)
    "target",
    "val_fraction",
    "data_seed",
    "batch_size",
    "accumulate",  # (micro-batches per update: a step is an update of K of them)
    "amp",  # (the forward's precision, and with fp16 the scaler the checkpoint holds)
    "loss_scale",
    "growth_interval",
    "epochs",
    "shuffle",
    "drop_last",
    "loss",
    "task",
    "schedule_per",
)


def given(ctx: typer.Context, key: str) -> bool:
    """The option ``key`` was given: on the command line, in the environment or in the
    config file (not left at its default, nor taken from a checkpoint)."""
    source = ctx.get_parameter_source(key)
    on_command_line = source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")
    return on_command_line or key in ctx.meta.get("from_config", ())


def with_checkpoint_run(ctx: typer.Context, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the checkpoint's run configuration where they were left at their
    defaults (no ``--resume``: ``options`` as they are). Imports torch, to read the file."""
    path = options.get("resume")
    if path is None:
        return options
    from gradcli.train import checkpoint

    whole = checkpoint.load(path)  # a foreign or broken file: one line, exit 2
    saved = whole["config"]
    types = option_types()
    merged = dict(options)
    for key in RUN_OPTIONS:
        if not given(ctx, key) and key in saved and accepts(types[key], saved[key]):
            merged[key] = saved[key]
    if given(ctx, "amp"):  # (before the scaler's options, taken from it, say otherwise)
        checkpoint.check_amp(path, saved, merged.get("amp"))
    left = checkpoint.steps_left(whole)
    if left is not None and not given(ctx, "steps") and not given(ctx, "epochs"):
        merged["steps"], merged["epochs"] = left, None  # a stopped run: finished
    model = merged.get("model")
    if not given(ctx, "model") and isinstance(model, str) and ":" in model:
        raise GradcliError(
            f"--resume {path}: the checkpoint was trained on --model {model}, code of yours; "
            f"gradcli runs no code a checkpoint names: resume with --model {model} to run it"
        )
    settings, lr = saved.get("settings"), saved.get("lr")
    readable = isinstance(settings, dict) and (lr is None or accepts(types["lr"], lr))
    if not given(ctx, "optimizer") and readable:
        merged["optimizer"] = constructor(saved["optimizer"], lr, settings)
    return merged
