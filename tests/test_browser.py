"""The report in a real browser: headless Chromium renders its figure (pixels where the
figure is, in the runs' colours) and its text (the run's numbers). Skipped where no
Chromium is installed (Debian: apt-get install chromium; .ci/run tries to)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

pytest.importorskip("matplotlib")

BROWSER = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BROWSER is None, reason="no chromium binary (apt-get install chromium)"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]


def _browser(*args: str) -> str:
    done = subprocess.run(
        [BROWSER, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


def _screenshot(page, target):
    _browser("--window-size=1300,1600", f"--screenshot={target}", page.as_uri())
    import matplotlib.image

    return (matplotlib.image.imread(target)[..., :3] * 255).round().astype(int)


def test_the_report_renders_its_figure_and_its_numbers(invoke, tmp_path):
    from gradcli.pictures.figures import COLOURS

    page = tmp_path / "r.html"
    args = ["compare", "-m", "himmelblau", "--steps", "30", "-o", "sgd,adam", "-f", "jsonl"]
    result = invoke(*args, "--report", str(page))
    assert result.exit_code == 0, result.stderr
    # the page as the browser read it: the runs' final losses as the summary says them
    text = _browser("--dump-dom", page.as_uri())
    for label in ("sgd", "adam"):
        final = re.search(rf"{label}: loss \S+ -> ([^\s,]+)", result.stderr).group(1)
        assert re.search(rf"<td>{label}</td>.*<td class=\"number\">{final}</td>", text), label
    # the figure's pixels: the page against the same page with the figure hidden
    shown = _screenshot(page, tmp_path / "shown.png")
    hidden_page = tmp_path / "hidden.html"
    hidden_page.write_text(
        page.read_text().replace('<figure id="figures">', '<figure id="figures" hidden>')
    )
    hidden = _screenshot(hidden_page, tmp_path / "hidden.png")
    changed = (shown != hidden).any(axis=2)
    assert changed.sum() > 50_000  # the figure is drawn, not an empty box
    rows, columns = changed.nonzero()
    box = shown[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    colours = {tuple(p) for p in box.reshape(-1, 3).tolist()}
    for colour in COLOURS[:2]:  # each run's line in its colour
        assert tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) in colours, colour
