"""The text plot of `gradcli compare`: labels that tell values apart, no curve hidden."""

from __future__ import annotations

import re

from gradcli.pictures.plot import MARKERS, OVERLAP, plot


def labels(lines: list[str]) -> list[str]:
    return [line.split("┤")[0].strip() for line in lines if "┤" in line]


def canvas(lines: list[str]) -> str:
    return "".join(
        re.split("[┤│]", line, maxsplit=1)[1] for line in lines if re.search("[┤│]", line)
    )


def test_labels_of_a_small_range_are_distinct():
    lines = plot({"sgd": [2.0, 1.99967, 1.99933, 1.999, 1.99867, 1.99833]}, width=60)
    assert labels(lines) == ["2", "1.999", "1.998"]  # three digits would say 2 / 2 / 2


def test_labels_keep_three_digits_when_they_suffice():
    lines = plot({"sgd": [16.0, 1.0, 0.0112]}, width=60)
    assert labels(lines) == ["16", "0.32", "0.0112"]


def test_wide_labels_widen_the_margin_for_every_row():
    lines = plot({"a": [1.0, 1.0000001]}, width=60)
    assert labels(lines) == ["1.0000001", "1.00000005", "1"]
    axis = {line.index("┤") if "┤" in line else line.index("│") for line in lines[1:15]}
    assert axis == {len("1.00000005 ")}  # one straight axis, right of the widest label


def test_series_sharing_a_cell_show_the_overlap_marker_and_the_legend_says_so():
    same = [4.0, 2.0, 1.0, 0.5]
    lines = plot({"adam": same, "adamw": same, "sgd": [4.0, 3.0, 2.5, 2.0]}, width=40)
    drawn = canvas(lines)
    assert MARKERS[0] not in drawn and MARKERS[1] not in drawn  # adam, adamw: always together
    assert drawn.count(OVERLAP) == 4  # their four points (sgd shares the first)
    assert MARKERS[2] in drawn
    assert [line.strip() for line in lines[-2:]] == [  # the legend wraps between entries
        "• adam   + adamw   x sgd",
        f"{OVERLAP} two or more at once",
    ]
    assert max(map(len, lines)) <= 40


def test_no_overlap_marker_and_no_legend_entry_when_curves_never_meet():
    lines = plot({"a": [100.0, 10.0, 1.0], "b": [0.001, 0.001, 0.001]}, width=40)
    assert OVERLAP not in canvas(lines)
    assert lines[-1].strip() == "• a   + b"
