"""``gradcli plot``: the pictures of runs read back from gradcli's JSON lines. No torch:
the surface of a built-in 2-D problem is computed from its formula in ``surfaces.py``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gradcli.errors import GradcliError
from gradcli.output import Output
from gradcli.pictures import drawing as drawn
from gradcli.pictures import svg
from gradcli.saved_runs import STDIN, Run, read_runs
from gradcli.surfaces import SURFACES, Surface

NO_SURFACE = "none"


def guess_surface(runs: Sequence[Run]) -> Surface | None:
    """The built-in 2-D problem these records come from: a point ``xy`` that starts where
    one of them starts (every built-in starts at its own point, whatever the seed)."""
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


def default_kinds(runs: Sequence[Run]) -> tuple[str, ...]:
    """The loss, the path where the records hold two elements, the gradient norms (where
    the records hold parameters: compare's do not)."""
    if not any(r["params"] for run in runs for r in run.records):
        return ("loss",)
    two = all(drawn.elements(run.records[-1]) is not None for run in runs)
    return ("loss", *(["path"] if two else []), "grad-norm")


def run(
    files: Sequence[str],
    labels: Sequence[str],
    plot: Sequence[str] | None,
    surface_name: str | None,
    plot_file: str | None,
    output: Output,
) -> None:
    kinds = drawn.parse_kinds(plot)
    if plot_file is not None:
        svg.check_target(plot_file)
    sources = list(files) or [STDIN]
    if sources == [STDIN] and not files and sys.stdin.isatty():
        raise GradcliError(
            "no FILE given and stdin is a terminal: name the JSON lines files, or pipe "
            "them in (gradcli optim -f jsonl | gradcli plot -)"
        )
    runs = read_runs(sources, labels)
    kinds = kinds or default_kinds(runs)
    surface_map = None
    axes = drawn.axes_of(runs[0].records[-1])
    if axes is not None:
        surface = choose_surface(surface_name, runs, output) if "path" in kinds else None
        surface_map = drawn.SurfaceMap(
            axes,
            None if surface is None else surface.loss,
            () if surface is None else surface.minima,
        )
    width = drawn.width_of(sys.stdout, output)
    pictures = drawn.draw(runs, kinds, width=width, surface_map=surface_map)
    drawn.show(pictures, output, sys.stdout)
    if plot_file is not None:
        svg.write(plot_file, pictures, f"gradcli plot: {', '.join(r.label for r in runs)}")
        output.say(f"gradcli: wrote {', '.join(kinds)} to {plot_file}")
