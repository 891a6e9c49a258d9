"""Pictures at 60, 80 and 120 columns (issue 23): captions and legends wrap and are never
cut, the markers are styled where the picture placed them (not letters that look like
them), every run of a picture has a marker of its own, and one step axis everywhere: the
step numbers of the records."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcli.pictures.plot import MARKERS, OVERLAP, panels, plot
from gradcli.pictures.text import wrap, wrapped

ANSI = re.compile(r"\x1b\[[0-9;]*m")
WIDTHS = ["60", "80", "120"]
X_AXIS = re.compile(r"^\s+(\d+)\s+(?:step|epoch)\s+(\d+)$")


def flat(text: str) -> str:
    """The words of ``text`` one space apart (wrapping moves them, never changes them)."""
    return " ".join(text.split())


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_the_path_caption_contours_and_scales_wrap_whole(invoke, width):
    result = invoke(
        "optim", "-m", "beale", "--steps", "100", "--plot", "path,grad-norm", "-f", "table",
        COLUMNS=width,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = flat(result.stdout)
    number = r"-?[0-9.e+-]+"
    where = rf"sgd: ends at \({number}, {number}\), loss {number}, {number} from the minimum"
    assert re.search(rf"{where} \(3, 0\.5\)", out)  # (…0.0602 from the minimum ( was cut)
    levels = " ".join(rf"{re.escape(shade)} {number}" for shade in ".:-=≡")
    assert re.search(rf"contours at loss: {levels} • sgd \(ends at 1\)", out)
    scale = rf"\(log scale shared by the rows: ▁ {number} … █ {number}\)"
    assert re.search(rf"grad norm per parameter {scale} xy ", out)
    assert "path on the loss surface (xy[1] up, xy[0] across; log contours)" in out
    assert widest(result.stdout) <= int(width)


@given(
    st.lists(st.text("ab cdé·-", min_size=1, max_size=30), min_size=1, max_size=12),
    st.integers(8, 90),
    st.integers(0, 6),
)
def test_wrapping_keeps_every_word_and_the_width_where_words_allow(entries, width, indent):
    lines = wrapped(entries, width, indent=indent, hanging=indent)
    assert flat(" ".join(lines)) == flat(" ".join(entries))
    room = width - indent
    for line in lines:  # only a word wider than the room may stick out, alone on its line
        assert len(line) <= width or (len(line.split()) == 1 and len(line.strip()) > room)


def test_wrapping_breaks_between_entries_and_marks_their_keys():
    lines = wrap(["• sgd", "+ rmsprop", "x adamax"], 22, indent=2, keys=1)
    assert lines == [("  • sgd   + rmsprop", [2, 10]), ("  x adamax", [2])]


def test_a_plot_marks_its_markers_and_nothing_that_looks_like_one():
    picture = plot({"rmsprop": [3.0, 2.0, 1.0], "two": [1.0, 2.0, 3.0]}, width=40)
    legend = picture.index(next(line for line in picture if "rmsprop" in line))
    assert [picture[legend][c] for c in picture.marked_in(legend)] == ["•", "+"]
    for row, column in picture.marks:
        assert picture[row][column] in MARKERS + "&"


@pytest.mark.parametrize("width", WIDTHS)
def test_compares_legend_styles_its_markers_not_letters(invoke, width):
    runs = "sgd,rmsprop,adamax,adagrad,rprop"  # sgd's marker •; o and x are markers too
    result = invoke(
        "compare", "-m", "beale", "--steps", "10", "-o", runs, "-f", "table", "--color",
        COLUMNS=width,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    axis = max(i for i, line in enumerate(lines) if X_AXIS.match(ANSI.sub("", line)))
    legend = "\n".join(lines[axis + 1 :])
    for label in runs.split(","):  # whole: no escape inside the word
        assert re.search(rf"\x1b\[[0-9;]*m.\x1b\[0m {label}\b", legend), label
    styled = set(re.findall(r"\x1b\[[0-9;]*m([^\x1b]*)\x1b\[0m", legend)) - {OVERLAP}
    assert styled == set(MARKERS[:5])  # the legend's markers, nothing else


@pytest.mark.slow
def test_compare_all_gives_every_run_a_marker_and_names_what_it_leaves_out(invoke):
    result = invoke(
        "compare", "-m", "beale", "--steps", "5", "-o", "all", "-f", "table", COLUMNS="80"
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "gradcli: -o all: leaving out sparseadam: torch.optim.SparseAdam takes sparse "
        "gradients only (model beale's are dense)"
    ) in result.stderr.splitlines()
    lines = result.stdout.splitlines()
    rows = lines[lines.index(next(line for line in lines if "optimizer" in line)) + 2 :]
    labels = [row.split()[0] for row in rows[: rows.index("")]]
    assert len(labels) > len(MARKERS)  # more runs than markers: panels
    title = re.compile(r"^loss( \(log scale\))?( · panel \d+ of \d+, on the same axes)?$")
    starts = [i for i, line in enumerate(lines) if title.match(line)]
    assert len(starts) > 1
    shown: list[str] = []
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        picture = lines[start:end]
        axis = max(i for i, line in enumerate(picture) if X_AXIS.match(line))
        entries = [
            (m, label)
            for line in picture[axis + 1 :]
            for m, label in re.findall(r"(?:^ +|   )(\S) ([a-z]+)(?=   |$)", line)
        ]
        markers = [m for m, _ in entries]
        assert len(markers) == len(set(markers))  # a marker of its own in its panel
        shown += [label for _, label in entries]
    assert sorted(shown) == sorted(labels)
    assert widest(result.stdout) <= 80


def test_panels_share_their_axes():
    series = {f"run{i}": [float(i + 1), float(i + 2)] for i in range(10)}
    pictures = panels(series, steps={n: [1, 2] for n in series}, width=60)
    assert len(pictures) == 2
    first, second = ([line for line in p if "┤" in line] for p in pictures)
    assert [line.split("┤")[0] for line in first] == [line.split("┤")[0] for line in second]
    assert "panel 1 of 2" in pictures[0][0] and "panel 2 of 2" in pictures[1][0]


def axes(text: str) -> list[tuple[int, int]]:
    """The first and last step of each picture's x axis."""
    found = (X_AXIS.match(line) for line in text.splitlines())
    return [(int(m[1]), int(m[2])) for m in found if m]


def test_every_picture_of_a_run_counts_steps_as_its_records_do(invoke):
    result = invoke(
        "optim", "-m", "beale", "--steps", "20", "--plot", "loss,grad-norm,lr", "-f", "jsonl",
        COLUMNS="80",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    steps = [json.loads(line)["step"] for line in result.stdout.splitlines()]
    updated = (min(s for s in steps if s > 0), max(steps))  # the records of an update
    assert axes(result.stderr) == [updated] * 3  # loss, grad norm, lr: 1 … 20


def test_compares_loss_curve_counts_steps_as_its_records_do(invoke):
    table = invoke("compare", "-m", "beale", "--steps", "20", "-o", "sgd,adam", "-f", "table")
    records = invoke("compare", "-m", "beale", "--steps", "20", "-o", "sgd,adam", "-f", "jsonl")
    losses = [json.loads(line) for line in records.stdout.splitlines()]
    steps = [r["step"] for r in losses if r["optim_loss"] is not None]
    assert axes(table.stdout) == [(min(steps), max(steps))]


@pytest.mark.parametrize("width", ["80", "120"])
def test_the_step_legend_keeps_each_entry_on_one_line(invoke, width):
    result = invoke("optim", "-m", "beale", "--steps", "2", "-f", "table", COLUMNS=width)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for entry in ["loss, grad: before this step's update", "value: after it"]:
        assert any(entry in line for line in lines), entry
    assert any("update = after − before" in line for line in lines)  # (split at 80 once)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_a_long_path_caption_wraps_at_the_width_between_its_parts(width):
    from gradcli.pictures.surface import path_picture

    label = "SGD(lr=0.01, momentum=0.9)"
    lines = path_picture(
        {label: [(0.0, 0.0), (-3.0, -2.5), (-3.7512, -3.21234)]},
        axes=("xy[0]", "xy[1]"),
        loss=lambda x, y: (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2,
        minima=[(-3.77931, -3.28319)],
        width=width,
    )
    assert max(map(len, lines)) <= width
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {label}: ends at"))
    assert re.fullmatch(  # the caption is the picture's last lines, whole
        rf"{re.escape(label)}: ends at \(-3\.75, -3\.21\), loss \S+ \(in float64\), \S+ from the "
        r"minimum "
        r"\(-3\.78, -3\.28\)",
        flat(" ".join(lines[start:])),
    )
