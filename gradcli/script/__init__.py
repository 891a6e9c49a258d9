"""``--print-script`` and ``--show-code``: the code a run executes, taken from the code itself
(``inspect.getsource``), never retyped.

``--print-script`` writes a run of ``gradcli optim`` or ``gradcli manual`` as a plain PyTorch
program, which prints the run's JSON lines bit for bit: the problem comes from
``problems.py``, the loop and the JSON lines from ``program.py`` and ``loops.py``, and on
the manual path the optimizer's own for-loop rule and the gradcli helpers it calls, read
from their modules by ``source.py`` (which ``--show-code`` uses too). What a script cannot
repeat is refused here, in one line, before anything is printed.
"""

from __future__ import annotations

from gradcli.errors import GradcliError
from gradcli.spec import RunSpec


def refusal(spec: RunSpec, path: str) -> str | None:
    """Why ``spec`` cannot be printed as a script (torch-free checks), if it cannot."""
    if spec.format not in ("auto", "jsonl"):
        return f"--print-script: a script prints JSON lines, not --format {spec.format}"
    return None


def print_script(spec: RunSpec, path: str) -> str:
    """The script of ``spec`` on ``path``: the run is set up as for training (so that its
    errors are the same), then written out."""
    wrong = refusal(spec, path)
    if wrong is not None:
        raise GradcliError(wrong)
    from gradcli.script.program import program

    return program(spec.with_every(), path, stops=True)
