"""How the characters of a picture are styled on a terminal that takes colour (none with
NO_COLOR or --no-color: the characters alone carry the picture). No torch here."""

from __future__ import annotations

from gradcli.pictures.plot import MARKERS, OVERLAP, RULE
from gradcli.pictures.surface import ENDS, MINIMUM, SHADES, START

MARKER_STYLES = dict(
    zip(
        MARKERS,
        ["cyan", "magenta", "yellow", "green", "red", "blue", "bright_cyan", "bright_magenta"],
        strict=True,
    )
)
STYLES = {
    **MARKER_STYLES,
    OVERLAP: "bold",
    RULE: "dim",
    START: "bold",
    MINIMUM: "bold green",
    **dict.fromkeys(ENDS, "bold"),
    **dict.fromkeys(SHADES.strip(), "dim"),
}
