"""``gradcli report [FILE...]``: a one-page HTML report of runs read back from gradcli's
JSON lines (``--report`` makes one straight from a run). No torch."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gradcli.cli import options as opt
from gradcli.cli.commands.plot import Labels, Pictures, RunFiles, SurfaceName
from gradcli.output import Output

EXAMPLES = opt.examples(
    "gradcli optim -m himmelblau -f jsonl | gradcli report -o report.html",
    "gradcli report sgd.jsonl adam.jsonl --label SGD --label Adam -o report.html",
    "gradcli compare -m beale -o sgd,adam -f jsonl | gradcli report > report.html",
)


def report(
    ctx: typer.Context,
    files: RunFiles = None,
    label: Labels = None,
    plot: Pictures = None,
    surface: SurfaceName = None,
    output_file: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE.html",
            show_default=False,
            help="Where the report goes (default: stdout).",
        ),
    ] = None,
    quiet: opt.Quiet = False,
) -> None:
    output = Output("table", quiet, None)
    from gradcli.cli.failures import command_line
    from gradcli.pictures import drawing as drawn
    from gradcli.pictures import files as picture_files
    from gradcli.pictures import report as page
    from gradcli.pictures.saved import default_kinds, read_sources, surface_map_of
    from gradcli.saved_runs import STDIN

    kinds = drawn.parse_kinds(plot)
    if output_file is not None:
        picture_files.check_target(output_file, "--output", picture_files.REPORT_SUFFIXES)
    runs = read_sources(files, label, "report")
    kinds = kinds or default_kinds(runs)
    surface_map = surface_map_of(runs, kinds, surface, output)
    sources = [
        (f"{run.label}: read from", "stdin" if run.source == STDIN else run.source)
        for run in runs
        if run.source
    ]
    how = {"surface_map": surface_map, "command": command_line(ctx), "settings": sources}
    if output_file is None:
        sys.stdout.write(page.document(runs, kinds, **how))
        return
    page.write(output_file, runs, kinds, **how, option="--output")
    output.say(f"gradcli: wrote the report to {output_file}")
