"""The pictures as a standalone SVG file: the same characters as on the terminal, in a
monospace font, the markers in their colours, for a browser or a report. No dependency:
the file is written by hand, every character escaped."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from gradcli.errors import GradcliError
from gradcli.pictures.styles import STYLES
from gradcli.pictures.text import marks_of

CHAR_WIDTH = 8.4  # px per character at font-size 14 of a typical monospace font
LINE_HEIGHT = 17
PAD = 12
COLOURS = {  # rich's names (styles.py) as CSS colours
    "cyan": "#0097a7",
    "magenta": "#a626a4",
    "yellow": "#b08800",
    "green": "#2e7d32",
    "red": "#c62828",
    "blue": "#1565c0",
    "bright_cyan": "#00acc1",
    "bright_magenta": "#d81b60",
}


def _attributes(style: str) -> str:
    words = style.split()
    out = []
    colour = next((COLOURS[w] for w in words if w in COLOURS), None)
    if colour:
        out.append(f'fill="{colour}"')
    if "bold" in words:
        out.append('font-weight="bold"')
    if "dim" in words:
        out.append('fill-opacity="0.55"')
    return " ".join(out)


def _line(text: str, marked: set[int]) -> str:
    """One line's characters, runs of one style in a ``tspan`` (its marks only, as on the
    terminal: the ``marked`` columns)."""
    pieces: list[tuple[str, str]] = []
    for i, char in enumerate(text):
        style = STYLES.get(char, "") if i in marked else ""
        if pieces and pieces[-1][0] == style:
            pieces[-1] = (style, pieces[-1][1] + char)
        else:
            pieces.append((style, char))
    return "".join(
        f"<tspan {_attributes(style)}>{escape(chunk)}</tspan>" if style else escape(chunk)
        for style, chunk in pieces
    )


def document(pictures: list[list[str]], title: str) -> str:
    """The SVG text: each picture's lines, a blank line between pictures."""
    lines: list[str] = []
    marked: dict[int, set[int]] = {}
    for picture in pictures:
        for row, column in marks_of(picture):
            marked.setdefault(len(lines) + row, set()).add(column)
        lines += [*picture, ""]
    columns = max((len(line) for line in lines), default=1)
    width = round(2 * PAD + columns * CHAR_WIDTH)
    height = 2 * PAD + len(lines) * LINE_HEIGHT
    body = [
        f'<text x="{PAD}" y="{PAD + (k + 1) * LINE_HEIGHT - 4}">'
        f"{_line(line, marked.get(k, set()))}</text>"
        for k, line in enumerate(lines)
        if line
    ]
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">',
            f"<title>{escape(title)}</title>",
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
            '<g font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14" '
            'fill="#222222" xml:space="preserve">',
            *body,
            "</g>",
            "</svg>",
            "",
        ]
    )


def check_target(path: str) -> None:
    """Before the run: ``--plot-file`` names a file that can be written, ending .svg."""
    if not path.endswith(".svg"):
        raise GradcliError(f"--plot-file {path}: the file must end in .svg")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise GradcliError(f"--plot-file {path}: no such folder: {folder}")
    if Path(path).exists() and not Path(path).is_file():
        raise GradcliError(f"--plot-file {path}: not a regular file")


def write(path: str, pictures: list[list[str]], title: str) -> None:
    """Write the file atomically (a reader never sees half of it)."""
    check_target(path)
    folder = str(Path(path).resolve().parent)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".gradcli-", suffix=".svg")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0o600, made what a new file gets
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(document(pictures, title))
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise GradcliError(f"--plot-file {path}: cannot write it: {error.strerror}") from None


def _umask() -> int:
    """The process's umask (read by setting it, so set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
