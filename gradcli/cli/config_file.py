"""``--config FILE.toml``: the file's values between the defaults and the command line, and a
bad value from the file blamed on the file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from gradcli.config import load as load_config
from gradcli.errors import GradcliError


def with_config(
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
def blame_config(ctx: typer.Context, path: str | None) -> Iterator[None]:
    """A bad value that came from the config file: say which file."""
    try:
        yield
    except GradcliError as error:
        option = str(error).split(maxsplit=1)[0].rstrip(":").lstrip("-").replace("-", "_")
        if path is not None and option in ctx.meta.get("from_config", ()):
            raise type(error)(f"{path}: {error}") from None
        raise
