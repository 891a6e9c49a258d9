"""The text of a script: a docstring, the imports, the problem, how the JSON lines are made,
the set-up and the loop in commented phases."""

from __future__ import annotations

import inspect
import re
import textwrap
from dataclasses import replace
from string import Template

import torch

from gradcli import problems
from gradcli.errors import GradcliError
from gradcli.optimizers import _snippet as snip
from gradcli.optimizers.catalog import Optimizer, Snippet
from gradcli.records import SMALL
from gradcli.script.problems import problem_code
from gradcli.spec import RunSpec
from gradcli.train.setup import prepare
from gradcli.train.updates import Part, assign, impl_kwargs, manual_rule

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


def _command(spec: RunSpec, path: str, lr: float) -> str:
    """The gradcli command this script repeats (the optimizer in torch's constructor form
    where a keyword is set)."""
    optimizer = spec.optimizer
    if spec.settings:
        keywords = ", ".join(f"{k}={snip.literal(v)}" for k, v in spec.settings.items())
        optimizer = f"'{spec.optimizer_info.torch_class}({keywords})'"
    words = [f"gradcli {path}", f"-m {spec.model}", f"-o {optimizer}"]
    if spec.lr is not None:
        words.append(f"--lr {snip.literal(lr)}")
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


def _state_lines(states: str, state: str, chosen: str) -> list[str]:
    """``states = {p: <state> for p in <chosen>}``, over as many lines as it needs."""
    line = f"{states} = {{p: {state} for p in {chosen}}}"
    if len(line) <= 100:
        return [line]
    if len(state) <= 96:
        return [f"{states} = {{", f"    p: {state}", f"    for p in {chosen}", "}"]
    entries = state.strip("{}").split(", ")  # (no entry of a state holds a comma)
    return [
        f"{states} = {{",
        "    p: {",
        *(f"        {entry}," for entry in entries),
        "    }",
        f"    for p in {chosen}",
        "}",
    ]


def _changed(optimizer: Optimizer, hyperparameters: dict[str, object]) -> list[str]:
    """The constructor's keywords that differ from torch's defaults, as source."""
    return [
        f"{k}={snip.literal(v)}"
        for k, v in hyperparameters.items()
        if v != optimizer.defaults[k] or type(v) is not type(optimizer.defaults[k])
    ]


def _call(target: str, function: str, arguments: list[str]) -> list[str]:
    """``target = function(arguments)`` on one line, or one argument a line if too long."""
    line = f"{target} = {function}({', '.join(arguments)})"
    if len(line) <= 100:
        return [line]
    return [f"{target} = {function}(", *(f"    {a}," for a in arguments), ")"]


def program(spec: RunSpec, path: str) -> str:
    training, info = prepare(spec, path)
    problem = training.problem
    device = torch.device(info.device)
    own = ":" in spec.model
    sparse = bool(problems.sparse_gradients(problem))
    code = problem_code(spec.model)
    parts = assign(list(problem.parameters()), spec.optimizer_info, spec.hyperparameters())
    needed: list[str] = []
    if path == "optim":
        body, settings = _optim(parts, spec, device, own)
    else:
        body, settings, needed = _manual(parts, spec, own, sparse)
    needed += ["import copy"] if own else []
    imports = sorted({"import json", *(i for i in [*code.imports, *needed] if "torch" not in i)})
    torch_imports = ["import torch", *(i for i in code.imports if "torch" in i)]
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
        *torch_imports,
        "",
        *([""] if code.code.startswith(("class ", "def ")) else []),  # (as isort has it)
        code.code.rstrip("\n"),
        "",
        "",
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
        f"lr = {snip.literal(info.lr)}",
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


# gradcli.problems.check_protocol, as a script has it
_PROBE = [
    "# gradcli tries forward() once on a copy before training, which draws from torch's",
    "# random numbers if forward() does (dropout): so does this script, to stay the same run",
    "copy.deepcopy(model)()",
]


def _keep(own_model: bool) -> list[str]:
    """Lines that keep what the log shows: the gradients and the parameters before the
    update (a user's model may leave a parameter without a gradient)."""
    grads = "None if p.grad is None else p.grad.clone()" if own_model else "p.grad.clone()"
    return [
        "# keep what the log shows: the gradients and the parameters before the update",
        f"grads = [{grads} for p in params]",
        "before = [p.detach().clone() for p in params]",
    ]


def _optim(
    parts: list[Part], spec: RunSpec, device: torch.device, own_model: bool
) -> tuple[list[str], list[str]]:
    """The torch.optim loop: one optimizer (Muon: and AdamW for what it does not take)."""
    setup: list[str] = list(_SPLIT) if len(parts) > 1 else []
    names = []
    for i, (_, optimizer, hyperparameters) in enumerate(parts):
        name = "optimizer" if len(parts) == 1 else f"optimizer_{optimizer.name}"
        names.append(name)
        chosen = "params" if len(parts) == 1 else _choose(i == 0)
        torch_class = getattr(torch.optim, optimizer.torch_class)
        takes = inspect.signature(torch_class).parameters
        flags = [
            f"{k}={v}" for k, v in impl_kwargs(optimizer, spec.impl, device).items() if k in takes
        ]
        arguments = [chosen, "lr=lr", *_changed(optimizer, hyperparameters), *flags]
        setup += _call(name, f"torch.optim.{optimizer.torch_class}", arguments)
    step = [f"{n}.step()" for n in names]
    if parts[0][1].closure:
        setup += _CLOSURE
        step = ["evaluations = 0", "optimizer.step(closure)"]
    body = [
        "# 1. zero the gradients (optimizer.zero_grad() drops them: sets them to None)",
        *(f"{n}.zero_grad()" for n in names),
        "# 2. forward: the loss at the current parameters",
        "loss = model()",
        "# 3. backward: autograd puts the gradient of the loss into each p.grad",
        "loss.backward()",
        *_keep(own_model),
        "# 4. update: torch.optim's step",
        *step,
        "# 5. log",
    ]
    return body, setup


_EVALUATIONS = """\
    if step > 0:  # how many times LBFGS evaluated the loss in this step
        line["evaluations"] = evaluations
"""
_CLOSURE = [
    "",
    "",
    "def closure() -> torch.Tensor:",
    '    """LBFGS evaluates the loss itself, as often as its line search needs: first the',
    '    loss this step has already computed, then again at each point it tries."""',
    "    global evaluations",
    "    evaluations += 1",
    "    if evaluations == 1:",
    "        return loss",
    "    optimizer.zero_grad()",
    "    again = model()",
    "    again.backward()",
    "    return again",
    "",
]


def _choose(own: bool) -> str:
    """The parameters one of two optimizers trains (Muon: the 2-D ones; AdamW the rest)."""
    return "matrices" if own else "others"


_SPLIT = [
    "# Muon trains the matrices; AdamW, at torch's defaults, the other parameters",
    "matrices = [p for p in params if p.ndim == 2]",
    "others = [p for p in params if p.ndim != 2]",
]


_SKIP = ["if p.grad is None:  # torch.optim skips a parameter without a gradient", "    continue"]


def _manual(
    parts: list[Part], spec: RunSpec, own_model: bool, sparse: bool
) -> tuple[list[str], list[str], list[str]]:
    """The hand-written loop: each optimizer's rule written out (``Optimizer.script``)."""
    setup: list[str] = list(_SPLIT) if len(parts) > 1 else []
    update: list[str] = []
    imports: list[str] = []
    for i, (part, optimizer, hyperparameters) in enumerate(parts):
        if manual_rule(optimizer, spec.impl, part) is not optimizer.rule:
            raise GradcliError(
                "--print-script: a script writes torch's for-loop rule, and this run would "
                f"use {optimizer.name}'s foreach rule; add --impl forloop"
            )
        assert optimizer.script is not None
        snippet = _apart(optimizer.script(hyperparameters, sparse), setup, optimizer.name)
        setup += snippet.settings
        imports += snippet.imports
        chosen = "params" if len(parts) == 1 else _choose(i == 0)
        states = "states" if len(parts) == 1 else f"states_{optimizer.name}"
        inner = [*(_SKIP if own_model else []), "grad = p.grad"]
        if snippet.state is not None:
            setup += _state_lines(states, snippet.state, chosen)
            inner.append(f"state = {states}[p]")
        inner += snippet.update
        update += [
            f"    # torch.optim.{optimizer.torch_class}'s arithmetic, parameter by parameter",
            f"    for p in {chosen}:",
            *("        " + line for line in inner),
        ]
    body = [
        "# 1. forward: the loss at the current parameters",
        "loss = model()",
        "# 2. backward: autograd puts the gradient of the loss into each p.grad",
        "loss.backward()",
        *_keep(own_model),
        "# 3. update by hand, in place, where autograd does not look",
        "with torch.no_grad():",
        *update,
        "# 4. zero the gradients: drop them, as optimizer.zero_grad() does (since torch 2.0)",
        "for p in params:",
        "    p.grad = None",
        "# 5. log",
    ]
    return body, setup, imports


def _apart(snippet: Snippet, setup: list[str], suffix: str) -> Snippet:
    """``snippet`` with each setting that a line of ``setup`` already names (Muon's eps and
    AdamW's, say) renamed ``name_suffix``, in its lines too."""
    taken = {n.strip() for line in setup for n in line.split("=")[0].split(",")}
    mine = {n.strip() for line in snippet.settings for n in line.split("=")[0].split(",")}
    clash = re.compile(r"\b(" + "|".join(sorted(taken & mine)) + r")\b")
    if not taken & mine:
        return snippet

    def rename(lines: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(clash.sub(lambda m: f"{m.group(1)}_{suffix}", line) for line in lines)

    return replace(snippet, settings=rename(snippet.settings), update=rename(snippet.update))
