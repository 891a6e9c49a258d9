"""`gradcli plot`: pictures of runs read back from JSON lines, and `--plot` on a run."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from helpers import gradcli_process, jsonl
from typer.testing import CliRunner

from gradcli.cli import app


def synthetic(steps: int = 40) -> str:
    """A made-up run whose pictures depend on no CPU: 'vanishing' loses a factor 0.8 of its
    gradient a step, 'exploding' gains 1.2; the loss halves every 10 steps, the lr decays
    by 0.9 a step (the "lr" field of runs with a schedule), the point walks a line."""
    records = [
        {
            "step": 0,
            "loss": None,
            "lr": None,
            "params": {
                "vanishing": {"shape": [1], "value": [1.0], "grad": None, "update": None},
                "exploding": {"shape": [], "value": [0.0], "grad": None, "update": None},
            },
        }
    ]
    for t in range(1, steps + 1):
        records.append(
            {
                "step": t,
                "loss": 8.0 * 0.5 ** ((t - 1) / 10),
                "lr": 0.1 * 0.9 ** (t - 1),
                "params": {
                    "vanishing": {
                        "shape": [1],
                        "value": [1.0 - t / 40],
                        "grad": [0.8**t],
                        "update": [-1 / 40],
                    },
                    "exploding": {
                        "shape": [],
                        "value": [t / 20],
                        "grad": [-(1.2**t) / 100],
                        "update": [1 / 20],
                    },
                },
            }
        )
    return "".join(json.dumps(r) + "\n" for r in records)


GOLDEN = """\

loss (log scale)
       8 ┤• •
         │   • • •
         │         •• •
         │              • ••
         │                   • • •
         │                        • • •
         │                              •• •
    1.87 ┤                                   • ••
         │                                        • • •
         │                                             • • •
         │                                                   •• •
         │                                                        • ••
         │                                                             • • •
   0.536 ┤                                                                  • •
         └─────────────────────────────────────────────────────────────────────
          1                               step                               40
          • run.jsonl

grad norm per parameter (log scale shared by the rows: ▁ 0.000133 … █ 14.7)
  vanishing  ▆▆▆▆▆▆▅▅▅▅▅▅▅▄▄▄▄▄▄▄▄▃▃▃▃▃▃▃▂▂▂▂▂▂▂▂▁▁▁▁  0.8 → 0.000133
  exploding  ▄▄▄▄▄▄▄▄▅▅▅▅▅▅▅▅▅▆▆▆▆▆▆▆▆▆▇▇▇▇▇▇▇▇▇█████  0.012 → 14.7
             1                 step                40

path on the loss surface (exploding up, vanishing[0] across; contours)
     2.1 ┤   1
         │   ••••
         │       ••••
         │          ••••
         │              •••
         │                 ••••
         │                    ••••
         │                        ••••
         │                           ••••
         │                               ••••
       1 ┤                                  ••••
         │                                      ••••
         │                                         ••••
         │                                             ••••
         │                                                ••••
         │                                                   ••••
         │                                                       ••••
         │                                                          ••••
         │                                                              ••••
    -0.1 ┤                                                                 S
         └─────────────────────────────────────────────────────────────────────
          -0.05                        vanishing[0]                        1.05
          • run.jsonl (ends at 1)   S start
  run.jsonl: ends at (0, 2)

lr (log scale)
     0.1 ┤• •
         │   • • •
         │         •• •
         │              • ••
         │                   • • •
         │                        • • •
         │                              •• •
  0.0109 ┤                                   • ••
         │                                        • • •
         │                                             • • •
         │                                                   •• •
         │                                                        • ••
         │                                                             • • •
 0.00164 ┤                                                                  • •
         └─────────────────────────────────────────────────────────────────────
          1                               step                               40
          • run.jsonl
"""


@pytest.fixture
def piped():
    """gradcli in-process with ``text`` on its stdin."""
    runner = CliRunner()

    def run(text: str, *args: str, **env: str):
        return runner.invoke(app, list(args), input=text, env={"COLUMNS": "100", **env})

    return run


@pytest.fixture
def run_file(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(synthetic())
    return path


def test_the_pictures_of_a_run_at_80_columns(invoke, run_file):
    kinds = "loss,grad-norm,path,lr"
    result = invoke("plot", str(run_file), "--plot", kinds, COLUMNS="80")
    assert result.exit_code == 0, result.stderr
    assert [line.rstrip() for line in result.stdout.splitlines()] == GOLDEN.splitlines()
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert result.stderr == ""  # (no surface: the records are not of a built-in)


def test_stdin_labels_and_two_runs_side_by_side(piped, run_file):
    alone = piped(synthetic(20), "plot", "-", "--plot", "loss")
    assert alone.exit_code == 0, alone.stderr
    assert alone.stdout.splitlines()[-1].strip() == "• stdin"
    assert piped(synthetic(20), "plot", "--plot", "loss").stdout == alone.stdout  # no FILE
    both = piped(synthetic(20), "plot", str(run_file), "-", "--label", "long", "--label", "short")
    assert both.exit_code == 0, both.stderr
    assert "• long   + short" in both.stdout
    assert "grad norm per parameter: long" in both.stdout
    assert "grad norm per parameter: short" in both.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("step 1\n", "run.jsonl:2: not a gradcli record: not JSON (Expecting value)"),
        ('{"step": 1}\n', 'run.jsonl:2: not a gradcli record: no "loss" field'),
        (
            '{"step":1,"optimizer":"sgd","label":"sgd","lr":0.1,"optim_loss":1.0}\n',
            "run.jsonl:2: not a gradcli record of the same kind as line 1 (training)",
        ),
        ("[1, 2]\n", "run.jsonl:2: not a gradcli record: a JSON list, not an object"),
    ],
)
def test_a_line_that_is_not_a_record_is_exit_2_naming_file_and_line(
    invoke, tmp_path, text, message
):
    path = tmp_path / "run.jsonl"
    path.write_text(synthetic(3).splitlines(keepends=True)[0] + text)
    result = invoke("plot", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"gradcli: error: {path.parent}/{message}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl"], "missing.jsonl: cannot read it: no such file"),
        (
            ["RUN", "--plot", "curves"],
            "--plot: unknown picture 'curves'; choose one of: loss, path",
        ),
        (
            ["RUN", "--plot-file", "run.txt"],
            "--plot-file run.txt: the file must end in .svg, .png, .pdf",
        ),
        (["RUN", "--label", "a", "--label", "b"], "--label: 2 labels for 1 run"),
        (["RUN", "--surface", "sphere"], "--surface: unknown surface 'sphere'; choose one of: "),
    ],
)
def test_bad_input_is_one_line_and_exit_2(invoke, run_file, args, message):
    result = invoke("plot", *[str(run_file) if a == "RUN" else a for a in args])
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr


def test_the_path_of_records_with_more_than_two_elements_is_refused(invoke, piped):
    records = invoke("optim", "-m", "linear", "--steps", "2", "-f", "jsonl").stdout
    result = piped(records, "plot", "-", "--plot", "path")
    assert result.exit_code == 2
    assert "--plot path: needs records of a problem with exactly two trainable" in result.stderr


def test_records_of_a_builtin_get_its_surface_and_minimum(invoke, piped):
    records = invoke("optim", "-m", "himmelblau", "--steps", "20", "-f", "jsonl").stdout
    result = piped(records, "plot", "-", "--plot", "path")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "gradcli: surface himmelblau (these records start at its start point; --surface to "
        "choose)\n"
    )
    assert "contours at loss" in result.stdout and "from the minimum (3, 2)" in result.stdout
    bare = piped(records, "plot", "-", "--plot", "path", "--surface", "none", "-q")
    assert "contours at loss" not in bare.stdout and bare.stderr == ""


def test_colour_only_when_asked_and_never_with_no_color(invoke, run_file):
    plain = invoke("plot", str(run_file), "--plot", "loss")
    coloured = invoke("plot", str(run_file), "--plot", "loss", "--color")
    assert "\x1b[" not in plain.stdout and "\x1b[" in coloured.stdout
    no_color = invoke("plot", str(run_file), "--plot", "loss", NO_COLOR="1", FORCE_COLOR="1")
    assert "\x1b[" not in no_color.stdout


def test_the_plot_file_is_a_figure_of_the_same_pictures(invoke, run_file, tmp_path):
    target = tmp_path / "run.svg"
    result = invoke("plot", str(run_file), "--plot-file", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"gradcli: wrote loss, path, grad-norm to {target}\n"
    root = ET.parse(target).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"loss", "path", "grad norm per parameter", "vanishing[0]", "exploding"} <= text


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_the_plot_file_follows_the_umask_as_a_checkpoint_does(invoke, run_file, tmp_path, umask):
    target, checkpoint = tmp_path / "run.svg", tmp_path / "a.pt"
    before = os.umask(umask)
    try:
        assert invoke("plot", str(run_file), "--plot-file", str(target)).exit_code == 0
        assert invoke("optim", "--steps", "1", "--save", str(checkpoint), "-q").exit_code == 0
    finally:
        os.umask(before)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(checkpoint.stat().st_mode)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_plot_on_a_run_goes_to_stderr_beside_a_machine_format(invoke, fmt):
    args = ["optim", "-m", "mlp", "--steps", "5", "-f", fmt, "--plot", "grad-norm,lr"]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    if fmt == "jsonl":
        assert [r["step"] for r in jsonl(result.stdout)] == list(range(6))
    assert "grad norm per parameter" not in result.stdout
    assert "grad norm per parameter" in result.stderr and "net.4.bias" in result.stderr
    assert "lr (log scale)" in result.stderr
    assert invoke(*args, "-q").stderr == ""


def test_plot_on_a_table_run_and_the_svg_beside_it(invoke, tmp_path):
    target = tmp_path / "mlp.svg"
    args = ["manual", "-m", "mlp", "--steps", "5", "--every", "5", "-f", "table"]
    result = invoke(*args, "--plot", "update-norm", "--plot-file", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.index("summary") < result.stdout.index("update norm per parameter")
    assert "wrote update-norm to" in result.stderr
    ET.parse(target)


PIPELINE = """
import json, sys
from gradcli.cli import app
try:
    app(["plot", "-"], prog_name="gradcli")
except SystemExit as exit:
    code = exit.code
torch = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(json.dumps([code, torch]), file=sys.stderr)
"""


@pytest.mark.slow
def test_a_real_pipe_into_gradcli_plot_which_needs_no_torch():
    """`gradcli optim -m mlp -f jsonl | gradcli plot -`: loss and per-parameter norms."""
    train = gradcli_process(
        "optim", "-m", "mlp", "--steps", "30", "-f", "jsonl", "-q", stdout=subprocess.PIPE
    )
    plot = subprocess.run(
        [sys.executable, "-c", PIPELINE],
        stdin=train.stdout,
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": ""},
        timeout=120,
    )
    train.stdout.close()
    assert train.wait(timeout=120) == 0
    assert json.loads(plot.stderr.splitlines()[-1]) == [0, []], plot.stderr
    assert "loss (log scale)" in plot.stdout
    assert "grad norm per parameter" in plot.stdout and "net.0.weight" in plot.stdout


@pytest.mark.slow
def test_compare_records_are_one_run_per_label_and_repeated_labels_are_told_apart(invoke, piped):
    records = invoke("compare", "-m", "seed", "-o", "sgd,adam", "--steps", "5", "-f", "jsonl")
    alone = piped(records.stdout, "plot")
    assert alone.exit_code == 0, alone.stderr
    assert alone.stdout.splitlines()[-1].strip() == "• sgd   + adam   & two or more at once"
    assert "grad norm" not in alone.stdout  # (compare records hold no parameters)
    twice = piped(records.stdout, "plot", "-", "-", "--label", "x")
    assert twice.exit_code == 2 and "- (stdin) can be given once" in twice.stderr
    mixed = piped(records.stdout + synthetic(1), "plot")
    assert mixed.exit_code == 2
    assert mixed.stderr == (
        "gradcli: error: stdin:13: not a gradcli record of the same kind as line 1 (compare)\n"
    )


def test_the_same_file_twice_gets_two_labels(invoke, run_file):
    result = invoke("plot", str(run_file), str(run_file), "--plot", "loss")
    assert (
        result.stdout.splitlines()[-1].strip()
        == "• run.jsonl   + run.jsonl (2)   & two or more at once"
    )
