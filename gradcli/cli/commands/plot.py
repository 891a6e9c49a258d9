"""``gradcli plot [FILE...]``: the pictures of runs read back from gradcli's JSON lines. No
torch: the surface of a built-in 2-D problem is computed from its formula."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gradcli.cli import options as opt
from gradcli.output import Output

EXAMPLES = opt.examples(
    "gradcli optim -m mlp -f jsonl | gradcli plot -",
    "gradcli optim -m rosenbrock -o adam -f jsonl | tee adam.jsonl | gradcli plot",
    "gradcli plot sgd.jsonl adam.jsonl --plot loss,path",
    "gradcli plot run.jsonl --plot grad-norm,update-norm --plot-file run.svg",
)


RunFiles = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="FILE",
        show_default=False,
        help="JSON lines of gradcli optim or manual, one run each (of gradcli compare: "
        "one run per label); - is stdin.",
    ),
]
Labels = Annotated[
    list[str] | None,
    typer.Option(
        "--label",
        metavar="TEXT",
        show_default=False,
        help="A run's name in the legends, repeatable, in the order of the files "
        "(default: the file's name).",
    ),
]
Pictures = Annotated[
    list[str] | None,
    typer.Option(
        "--plot",
        metavar="PICTURE",
        show_default=False,
        help="The pictures, repeatable or comma-separated: loss, grad-norm, update-norm, "
        "lr, or path (default: loss, path where the records hold two elements, grad-norm).",
    ),
]
SurfaceName = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        show_default=False,
        help="The loss surface under the path: rosenbrock, beale, himmelblau, rastrigin, "
        "none (default: the built-in whose start the records start from).",
    ),
]


def plot(
    files: RunFiles = None,
    label: Labels = None,
    plot: Pictures = None,
    surface: SurfaceName = None,
    plot_file: opt.PlotFile = None,
    quiet: opt.Quiet = False,
    color: opt.Color = None,
) -> None:
    output = Output("table", quiet, color)  # pictures are for a person, on stdout
    from gradcli.pictures import drawing as drawn
    from gradcli.pictures.files import check_target
    from gradcli.pictures.saved import default_kinds, read_sources, surface_map_of

    kinds = drawn.parse_kinds(plot)
    if plot_file is not None:
        check_target(plot_file)
    runs = read_sources(files, label, "plot")
    kinds = kinds or default_kinds(runs)
    surface_map = surface_map_of(runs, kinds, surface, output)
    width = drawn.width_of(sys.stdout, output)
    pictures = drawn.draw(runs, kinds, width=width, surface_map=surface_map)
    drawn.show(pictures, output, sys.stdout)
    if plot_file is not None:
        from gradcli.pictures import figures

        title = f"gradcli plot: {', '.join(r.label for r in runs)}"
        figures.write(plot_file, runs, kinds, surface_map=surface_map, title=title)
        output.say(f"gradcli: wrote {', '.join(kinds)} to {plot_file}")
