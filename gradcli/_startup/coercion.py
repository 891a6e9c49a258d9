"""Option values converted without pydantic: a start-up cost gradcli does not need to pay.

Typer 0.29 converts every option's value (even an absent one) through a pydantic
``TypeAdapter`` that it builds on each run: importing that part of pydantic and building
about 35 adapters costs a training command roughly 0.15 s before any work starts. gradcli's
options are strings, flags, lists of strings, or carry their own parser
(``gradcli.cli.options``), so gradcli converts them itself, with the same results, and hands
anything else back to Typer's own conversion. Where a future Typer lacks the hook used here,
nothing changes but the speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args, get_origin

from gradcli.private_api import RuntimeParam, build_runtime_param

if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _Direct(RuntimeParam):  # type: ignore[misc,valid-type]
        """A parser's result, a string, a list of strings or a flag's bool, as Typer's
        own conversion would give them; any other value goes to Typer's conversion."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            parser = self.parameter_info.parser
            if parser is not None:
                return parser(value)
            if self.annotation is str and isinstance(value, str):
                return value
            if self.annotation is bool and isinstance(value, bool):
                return value
            if (
                get_origin(self.annotation) is list
                and get_args(self.annotation) == (str,)
                and isinstance(value, list | tuple)
                and all(isinstance(v, str) for v in value)
            ):
                return list(value)
            fallback = build_runtime_param(param.type_descriptor)
            return fallback._coerce_value(value, param=param, ctx=ctx)


def install(command: Any, ctx: Any) -> None:
    """Convert ``command``'s option values directly from now on (once per command; ``ctx``
    names the help option, which click makes on first use)."""
    if RuntimeParam is None or getattr(command, "_gradcli_direct", False):
        return
    for param in command.get_params(ctx):
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or descriptor.file_annotation is not None:
            continue
        if hasattr(param, "_runtime_param") and param._runtime_param is None:
            param._runtime_param = _Direct(descriptor.parameter_info, descriptor.annotation)
    command._gradcli_direct = True
