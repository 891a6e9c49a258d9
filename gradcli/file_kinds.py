"""What a file is, told from its first bytes: for the one-line errors that refuse a file of
the wrong kind (a checkpoint where JSON lines are read, JSON lines or text given to
``--resume``), so that they say what the file is as well as what was expected. No torch here.
"""

from __future__ import annotations

import json

HEAD = 4096  # bytes enough to tell the kinds below apart
ZIP = b"PK\x03\x04"  # torch.save's format (a zip archive), and so a checkpoint's
PICKLE = b"\x80"  # a pickle of protocol 2 or later: torch.save's legacy format, or any pickle

CHECKPOINT = "a checkpoint written by --save"
JSON_LINES = "gradcli's JSON lines (-f jsonl)"


def kind_of(head: bytes) -> str:
    """What a file starting with ``head`` is, in a few words ("a zip archive (...)", "JSON
    lines", "a text file", ...)."""
    if not head:
        return "empty"
    if head.startswith(ZIP):
        return "a zip archive (such as a checkpoint written by --save)"
    if head.startswith(PICKLE):
        return "a Python pickle"
    text = _text(head)
    if text is None:
        return "binary data"
    first = text.lstrip().split("\n", 1)[0]
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except ValueError:
            return "a text file"
        if isinstance(obj, dict) and "step" in obj:
            return "JSON lines (the records of a run, as -f jsonl writes them)"
        return "JSON lines"
    return "a text file"


def _text(head: bytes) -> str | None:
    """``head`` as UTF-8 text, a character cut at its end allowed; None for binary data."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:
            return None
        text = head[: error.start].decode("utf-8")
    return None if "\x00" in text else text
