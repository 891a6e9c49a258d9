"""The HTML report (``--report`` on a run, ``gradcli report`` for saved runs): one
self-contained page, every user text escaped, the summary's numbers the run's own."""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("matplotlib")

RUN = ["optim", "-m", "himmelblau", "--steps", "30"]


def _self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "http" not in page  # no address of any kind, the SVG's namespaces included
    for fetching in ("<script", "src=", "<link", "@import"):
        assert fetching not in page, fetching
    assert not re.search(r"url\((?!#)", page)  # url(#id) only: the page's own clip paths
    assert not re.search(r'href="(?!#)', page)  # href="#id" only: its own markers


@pytest.mark.slow
def test_a_run_writes_one_self_contained_page_with_its_numbers(invoke, tmp_path):
    target = tmp_path / "r.html"
    result = invoke(*RUN, "-f", "jsonl", "--report", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.endswith(f"gradcli: wrote the report to {target}\n")
    page = target.read_text()
    _self_contained(page)
    assert f"<code>gradcli {' '.join(RUN)} -f jsonl --report {target}</code>" in page
    assert "<tr><th>model</th><td>himmelblau</td></tr>" in page
    first, final = re.search(r"loss (\S+) -> ([^\s,]+)", result.stderr).groups()
    cells = re.findall(r"<td class=number>([^<]*)</td>", page)
    assert cells[2:4] == [first, final]  # lr, steps, then the losses as the summary says them
    assert page.count("<svg") == 1 and "path on the loss surface" in page


def test_compare_runs_side_by_side_with_their_gap_in_ulps(invoke, tmp_path):
    target = tmp_path / "c.html"
    args = ["compare", "-m", "beale", "--steps", "20", "-o", "sgd,adam", "-f", "jsonl"]
    result = invoke(*args, "--report", str(target))
    assert result.exit_code == 0, result.stderr
    page = target.read_text()
    _self_contained(page)
    rows = re.findall(r"<tr><td>(\w+)</td>.*?<td class=number>([^<]*)</td></tr>", page)
    assert rows == [("sgd", "0 (bit-identical)"), ("adam", "0 (bit-identical)")]


def test_a_run_on_data_reports_its_last_epoch_and_held_out_numbers(invoke, tmp_path):
    """A step's loss is one mini-batch's: the summary's final loss is the last epoch's mean
    training loss, beside the held-out loss and accuracy after it."""
    import json

    target = tmp_path / "d.html"
    args = ["optim", "-d", "digits", "-m", "mlp", "--epochs", "2", "--batch-size", "300"]
    result = invoke(*args, "-f", "jsonl", "--report", str(target))
    assert result.exit_code == 0, result.stderr
    epochs = [json.loads(line) for line in result.stdout.splitlines() if "epoch_end" in line]
    last = epochs[-1]
    page = target.read_text()
    assert "<th>held-out loss</th><th>held-out accuracy</th>" in page
    cells = re.findall(r"<td class=number>([^<]*)</td>", page)
    assert cells[3] == f"{last['train_loss']:.6g}"  # (lr, steps, first loss, final loss)
    assert cells[-2:] == [f"{last['val_loss']:.6g}", f"{last['val_accuracy']:.4g}"]


@pytest.mark.slow
def test_gradcli_report_reads_saved_runs_and_escapes_their_labels(invoke, tmp_path):
    saved = tmp_path / "run.jsonl"
    saved.write_text(invoke(*RUN, "-f", "jsonl").stdout)
    result = invoke("report", str(saved), "--label", "<b>&'\"", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    page = result.stdout  # stdout without --output
    _self_contained(page)
    assert "<b>&" not in page and "&lt;b&gt;&amp;&#x27;&quot;" in page
    target = tmp_path / "r.html"
    written = invoke("report", str(saved), "-o", str(target), "-q")
    assert written.exit_code == 0 and written.stdout == ""
    # the same page but the command line that made it
    strip = re.compile(r"<code>gradcli report [^<]*</code>")
    assert strip.sub("", target.read_text()) == strip.sub("", invoke("report", str(saved)).stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*RUN, "--report", "r.txt"], "--report r.txt: the file must end in .html, .htm"),
        (["report", "RUN", "-o", "r.svg"], "--output r.svg: the file must end in .html, .htm"),
        ([*RUN, "--report", "no/such/r.html"], "--report no/such/r.html: no such folder"),
    ],
)
def test_bad_targets_are_one_line_and_exit_2_before_the_run(invoke, tmp_path, args, message):
    saved = tmp_path / "run.jsonl"
    saved.write_text("")
    result = invoke(*[str(saved) if a == "RUN" else a for a in args])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"gradcli: error: {message}"), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_without_matplotlib_no_report_and_one_line(invoke, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    target = tmp_path / "r.html"
    result = invoke(*RUN, "-q", "--report", str(target))
    assert result.exit_code == 2 and not target.exists()
    assert result.stderr.endswith("pip install 'gradcli[plot]'\n")
    assert len(result.stderr.splitlines()) == 1


class _Page(HTMLParser):
    """The page's elements and the text in its cells and code, as a browser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)

    def handle_data(self, data):
        self.text.append(data)


@settings(max_examples=60, deadline=None)
@given(label=st.text(min_size=1), command=st.text())
def test_any_user_text_is_text_on_the_page_never_markup(label, command):
    from gradcli.pictures.report import page
    from gradcli.saved_runs import Run

    run = Run(label, [{"step": 0, "loss": None, "params": {}}], 0.1)
    html = page([run], ["loss"], "", surface_map=None, command=command, settings=[(label, label)])
    parsed = _Page()
    parsed.feed(html)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "code"}
    assert parsed.tags <= allowed | {"table", "tr", "th", "td", "figure", "figcaption"}
    text = "".join(parsed.text)
    assert label in text and command in text  # read back as written: text, not markup
