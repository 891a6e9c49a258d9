"""The text of a script: a docstring, the imports, the problem (``problems.py``), the gradcli
functions the loop calls (the rules, written out by ``source.gather``), how the JSON lines
are made, the set-up, and the loop (``loops.py``)."""

from __future__ import annotations

import ast
import textwrap
from string import Template

from gradcli.errors import GradcliError
from gradcli.script.layout import import_lines, literal
from gradcli.script.loops import manual_loop, optim_loop
from gradcli.script.problems import problem_code
from gradcli.script.source import gather
from gradcli.spec import RunSpec

_NUMBERS = Template('''\
def numbers(t: torch.Tensor) -> list[float] | dict[str, float]:
    """A tensor as gradcli records it: its elements as float64 numbers or, past $small
    elements, their L2 norm, mean, min and max."""
    t = t.detach()$dense.double().reshape(-1)
    if t.numel() <= $small:
        return t.tolist()
    return {
        "norm": t.norm().item(),
        "mean": t.mean().item(),
        "min": t.min().item(),
        "max": t.max().item(),
    }


def log(
    step: int,
    loss: float | None,
    grads: list[torch.Tensor | None],
    before: list[torch.Tensor | None],
) -> None:
    """One JSON line, as gradcli's: the loss and each gradient before the step's update,
    each parameter after it, and the change it made (value after − value before)."""
    record = {}
    for (name, p), grad, old in zip(model.named_parameters(), grads, before, strict=True):
        value = p.detach().double()
        record[name] = {
            "shape": list(p.shape),
            "value": numbers(value),
            "grad": None if grad is None else numbers(grad),
            "update": None if old is None else numbers(value - old.double()),
        }
    line = {"step": step, "loss": loss, "lr": None if step == 0 else lr}
${evaluations}    line["params"] = record
    print(json.dumps(line, separators=(",", ":")))
''')


def _defined(code: str) -> set[str]:
    """The names ``code`` defines at its top level."""
    names = set()
    for statement in ast.parse(code).body:
        if isinstance(statement, ast.FunctionDef | ast.ClassDef):
            names.add(statement.name)
        for target in getattr(statement, "targets", []):
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _command(spec: RunSpec, path: str, lr: float) -> str:
    """The gradcli command this script repeats (the optimizer in torch's constructor form
    where a keyword is set)."""
    optimizer = spec.optimizer
    if spec.settings:
        keywords = ", ".join(f"{k}={literal(v)}" for k, v in spec.settings.items())
        optimizer = f"'{spec.optimizer_info.torch_class}({keywords})'"
    words = [f"gradcli {path}", f"-m {spec.model}", f"-o {optimizer}"]
    if spec.lr is not None:
        words.append(f"--lr {literal(lr)}")
    words.append(f"--steps {spec.steps}")
    for option, value, default in (
        ("--seed", spec.seed, 0),
        ("--dtype", spec.dtype, "float32"),
        ("--device", spec.device, "auto"),
        ("--every", spec.every, 1),
        ("--impl", spec.impl, None),
    ):
        if value != default:
            words.append(f"{option} {value}")
    return " ".join(words)


def program(spec: RunSpec, path: str) -> str:
    """The script of ``spec`` on ``path`` (``optim`` or ``manual``): the run is set up as
    for training, so that its errors are the same, and its problem and parts read from it."""
    import torch

    from gradcli import problems
    from gradcli.records import SMALL
    from gradcli.train.setup import prepare
    from gradcli.train.updates import assign

    training, info = prepare(spec, path)
    problem = training.problem
    device = torch.device(info.device)
    own = ":" in spec.model
    sparse = bool(problems.sparse_gradients(problem))
    code = problem_code(spec.model)
    parts = assign(list(problem.parameters()), spec.optimizer_info, spec.hyperparameters())
    if path == "optim":
        body, settings, functions = optim_loop(parts, spec, device, own)
    else:
        body, settings, functions = manual_loop(parts, spec, own)
    written = gather(*functions)
    clash = {d.name for d in written.definitions} & (_NAMES | _defined(code.code))
    needs_gradcli = [line for line in written.imports if line.split()[1].startswith("gradcli")]
    if clash or needs_gradcli:  # (for a rule yet to come: a test writes every optimizer's)
        why = f"its {', '.join(sorted(clash))} would clash" if clash else "it imports gradcli"
        raise GradcliError(f"--print-script: gradcli cannot write this run's rules out: {why}")
    imports = import_lines(
        ["import json", "import torch", *code.imports, *written.imports]
        + (["import copy"] if own else [])
    )
    head = [
        '"""This gradcli run as a plain PyTorch script:',
        "",
        *textwrap.wrap(
            _command(spec, path, info.lr),
            width=92,
            initial_indent="    ",
            subsequent_indent="        ",
            break_on_hyphens=False,
        ),
        "",
        *textwrap.wrap(
            "It prints one JSON line per step, the same as gradcli's with --format jsonl: "
            "the loss and the gradients before each update, every parameter after it and "
            f"the change it made (tensors of more than {SMALL} elements as statistics), "
            "and the learning rate the update used.",
            width=92,
        ),
        '"""',
        "",
        *imports,
        "",
        *([""] if code.code.startswith(("class ", "def ")) else []),  # (as isort has it)
        code.code.rstrip("\n"),
        "",
        "",
        *([written.code.rstrip("\n"), "", ""] if written.definitions else []),
        _NUMBERS.substitute(
            small=SMALL,
            dense=".to_dense()" if sparse else "",
            evaluations=_EVALUATIONS if spec.optimizer_info.closure else "",
        ).rstrip("\n"),
        "",
        "",
    ]
    setup = [
        *(
            [
                "# torch's default, made explicit: else each sparse tensor built here warns",
                "torch.sparse.check_sparse_tensor_invariants.disable()",
            ]
            if sparse
            else []
        ),
        f"torch.manual_seed({spec.seed})  # the initial parameters (--seed)",
        f'model = {code.make}.to(device="{device}", dtype=torch.{spec.dtype})',
        *(_PROBE if own else []),
        "params = list(model.parameters())",
        f"steps = {spec.steps}",
        f"lr = {literal(info.lr)}",
        *settings,
    ]
    loop = [
        "",
        "log(0, None, [None] * len(params), [None] * len(params))",
        "for step in range(1, steps + 1):",
        *("    " + line if line else "" for line in body),
    ]
    if spec.every != 1:
        loop += [
            f"    if step % {spec.every} == 0 or step == steps:  # --every {spec.every}",
            "        log(step, loss.item(), grads, before)",
        ]
    else:
        loop.append("    log(step, loss.item(), grads, before)")
    return "\n".join([*head, *setup, *loop]) + "\n"


# The names a script's own lines define at its top level.
_NAMES = {"numbers", "log", "model", "params", "steps", "lr", "states", "closure", "loss"}
_NAMES |= {"grads", "before", "step", "evaluations", "stepped", "again"}


# gradcli.problems.check_protocol, as a script has it
_PROBE = [
    "# gradcli tries forward() once on a copy before training, which draws from torch's",
    "# random numbers if forward() does (dropout): so does this script, to stay the same run",
    "copy.deepcopy(model)()",
]


_EVALUATIONS = """\
    if step > 0:  # how many times LBFGS evaluated the loss in this step
        line["evaluations"] = evaluations
"""
