"""A one-page HTML report of runs (``--report`` on a run, ``gradcli report`` for saved
ones): the command that made it, each run's settings, the figure inline as SVG, the summary
table. Self-contained: no script, no font, no stylesheet and no address to fetch, so it
opens offline in any browser and reads without JavaScript. Every text from the user (the
command, labels, file names) is escaped."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from gradcli.pictures import drawing as drawn
from gradcli.pictures import figures
from gradcli.saved_runs import Run
from gradcli.surfaces import nearest

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px;
       color: #222; padding: 0 1em; }
code { background: #f3f3f3; padding: 0.1em 0.3em; word-break: break-all; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; }
"""


def inline_svg(svg: str) -> str:
    """matplotlib's SVG file as an element of an HTML5 page: no XML prolog, doctype or
    metadata, and no namespace declarations (HTML puts ``<svg>`` in SVG's namespace
    itself), so that the page names no address at all."""
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.replace("xlink:href=", "href=")


def _number(value: float | None, digits: int = 6) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def summary_rows(runs: Sequence[Run], surface_map: drawn.SurfaceMap | None) -> list[list[str]]:
    """Each run's row: name, lr, steps, the loss at the start and at the end, the distance
    from its end to the nearest minimum (where the minima are known), the gap between the
    hand-written and the torch.optim path in ULPs (where the run had both); on ``--data``,
    the final loss is the last epoch's mean training loss (a step's is one mini-batch's), and
    where a run held data out, its loss and accuracy on them after the last epoch."""
    rows = []
    held_out = any(_held_out(run) for run in runs)
    for run in runs:
        _, losses = drawn.losses(run)
        final = run.final_loss if run.final_loss is not None else (losses[-1] if losses else None)
        if run.epochs and run.epochs[-1].get("train_loss") is not None:
            final = run.epochs[-1]["train_loss"]
        distance = None
        points = [p for p in drawn.paths([run])[run.label] if all(map(_finite, p))]
        if surface_map is not None and surface_map.minima and points:
            _, distance = nearest(points[-1], surface_map.minima)
        gap = "–" if run.max_ulps is None else f"{run.max_ulps}"
        if run.max_ulps == 0:
            gap = "0 (bit-identical)"
        last = max([r["step"] for r in run.records], default=0)
        _, lrs = drawn.lrs(run)  # the run's constant, else the records' own (the last)
        rows.append(
            [
                run.label,
                _number(run.lr if run.lr is not None or not lrs else lrs[-1]),
                str(last),
                _number(losses[0] if losses else None),
                _number(final),
                _number(distance, 4),
                gap,
            ]
        )
        if held_out:
            last_epoch = run.epochs[-1] if _held_out(run) else {}
            rows[-1] += [
                _number(last_epoch.get("val_loss")),
                _number(last_epoch.get("val_accuracy"), 4),
            ]
    return rows


def _held_out(run: Run) -> bool:
    return bool(run.epochs) and run.epochs[-1].get("val_loss") is not None


def headings(runs: Sequence[Run]) -> list[str]:
    """The summary's column headings: the held-out columns where a run held data out."""
    extra = ["held-out loss", "held-out accuracy"] if any(map(_held_out, runs)) else []
    return [*HEADINGS, *extra]


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


HEADINGS = ["run", "lr", "steps", "first loss", "final loss", "distance to minimum"]
HEADINGS += ["manual vs torch.optim (ULPs)"]


def document(
    runs: Sequence[Run],
    kinds: Sequence[str],
    *,
    surface_map: drawn.SurfaceMap | None,
    command: str,
    settings: Sequence[tuple[str, str]] = (),
) -> str:
    """The HTML page, its figure drawn."""
    fig = figures.figure(runs, kinds, surface_map=surface_map)
    svg = inline_svg(figures.render(fig, "svg").decode("utf-8"))
    return page(runs, kinds, svg, surface_map=surface_map, command=command, settings=settings)


def page(
    runs: Sequence[Run],
    kinds: Sequence[str],
    svg: str,
    *,
    surface_map: drawn.SurfaceMap | None,
    command: str,
    settings: Sequence[tuple[str, str]] = (),
) -> str:
    """The HTML page around the figure's ``svg``: every text but the figure escaped."""
    names = ", ".join(run.label for run in runs)
    table = "\n".join(
        "<tr>"
        + "".join(
            f"<td{' class=number' if k else ''}>{escape(cell)}</td>" for k, cell in enumerate(row)
        )
        + "</tr>"
        for row in summary_rows(runs, surface_map)
    )
    setting_rows = "\n".join(
        f"<tr><th>{escape(key)}</th><td>{escape(value)}</td></tr>" for key, value in settings
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>gradcli report: {escape(names)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>gradcli report: {escape(names)}</h1>",
        f"<p>Made by <code>{escape(command)}</code></p>",
    ]
    if setting_rows:
        parts += ["<h2>Settings</h2>", f"<table>\n{setting_rows}\n</table>"]
    parts += [
        "<h2>Summary</h2>",
        "<table>",
        "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headings(runs)) + "</tr>",
        table,
        "</table>",
        "<h2>Figures</h2>",
        f'<figure id="figures">\n{svg}\n<figcaption>{escape(", ".join(kinds))}</figcaption>',
        "</figure>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def write(
    path: str,
    runs: Sequence[Run],
    kinds: Sequence[str],
    *,
    surface_map: drawn.SurfaceMap | None,
    command: str,
    settings: Sequence[tuple[str, str]] = (),
    option: str = "--report",
) -> None:
    """The page to ``path``, written atomically."""
    from gradcli.pictures import files

    page = document(runs, kinds, surface_map=surface_map, command=command, settings=settings)
    files.write(path, page.encode("utf-8"), option)
