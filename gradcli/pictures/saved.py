"""``gradcli plot``: the pictures of runs read back from gradcli's JSON lines. No torch:
the surface of a built-in 2-D problem is computed from its formula in ``surfaces.py``."""

from __future__ import annotations

from collections.abc import Sequence

from gradcli.errors import GradcliError
from gradcli.output import Output
from gradcli.pictures import drawing as drawn
from gradcli.saved_runs import Run
from gradcli.surfaces import SURFACES, Surface

NO_SURFACE = "none"


def guess_surface(runs: Sequence[Run]) -> Surface | None:
    """The built-in 2-D problem these records come from: a point ``xy`` that starts where
    one of them starts (every built-in starts at its own point, whatever the seed)."""
    if not runs[0].records:  # epoch objects only
        return None
    first = runs[0].records[0]
    if first["step"] != 0 or list(first["params"]) != ["xy"]:
        return None
    start = tuple(first["params"]["xy"]["value"])
    return next((s for s in SURFACES.values() if s.start == start), None)


def choose_surface(name: str | None, runs: Sequence[Run], output: Output) -> Surface | None:
    if name == NO_SURFACE:
        return None
    if name is not None:
        if name not in SURFACES:
            choices = ", ".join([*SURFACES, NO_SURFACE])
            raise GradcliError(f"--surface: unknown surface {name!r}; choose one of: {choices}")
        return SURFACES[name]
    surface = guess_surface(runs)
    if surface is not None:
        output.say(
            f"gradcli: surface {surface.name} (these records start at its start point; "
            "--surface to choose)"
        )
    return surface


def read_sources(
    files: Sequence[str] | None, labels: Sequence[str] | None, command: str
) -> list[Run]:
    """The runs of ``files`` (none: stdin, which must then not be a terminal)."""
    import sys

    from gradcli.saved_runs import STDIN, read_runs

    if not files and sys.stdin is not None and sys.stdin.isatty():
        raise GradcliError(
            "no FILE given and stdin is a terminal: name the JSON lines files, or pipe "
            f"them in (gradcli optim -f jsonl | gradcli {command} -)"
        )
    return read_runs(list(files or []) or [STDIN], labels or [])


def surface_map_of(
    runs: Sequence[Run], kinds: Sequence[str], name: str | None, output: Output
) -> drawn.SurfaceMap | None:
    """The surface under the runs' paths: their two elements' names, and where ``path`` is
    drawn the built-in surface chosen (``--surface``) or guessed."""
    axes = drawn.axes_of(runs[0].records[-1]) if runs[0].records else None
    if axes is None:
        return None
    chosen = choose_surface(name, runs, output) if "path" in kinds else None
    return drawn.SurfaceMap(
        axes, None if chosen is None else chosen.loss, () if chosen is None else chosen.minima
    )


def default_kinds(runs: Sequence[Run]) -> tuple[str, ...]:
    """The loss, the path where the records hold two elements, the gradient norms (where
    the records hold parameters: compare's do not)."""
    if not any(r["params"] for run in runs for r in run.records):
        return ("loss",)
    two = all(run.records and drawn.elements(run.records[-1]) is not None for run in runs)
    return ("loss", *(["path"] if two else []), "grad-norm")
