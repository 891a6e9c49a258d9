"""What needs a real process: import cost of --help, and `python -m gradcli`."""

from __future__ import annotations

import json
import subprocess
import sys

HELP_WITHOUT_TORCH = """
import sys
from typer.testing import CliRunner
from gradcli.cli import app
for args in (["--help"], ["optim", "--help"], ["manual", "--help"], []):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
    assert "Usage" in result.stdout
print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))))
"""


def test_help_does_not_import_torch():
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + HELP_WITHOUT_TORCH],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_python_dash_m_runs_a_training_command():
    out = subprocess.run(
        [sys.executable, "-m", "gradcli", "optim", "--model", "seed", "--steps", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [json.loads(line)["step"] for line in out.stdout.splitlines()] == [0, 1, 2]
    assert out.stderr == "gradcli: 2 steps, loss 2 -> 1.99933\n"
