"""The text of a script: a docstring, the imports, the problem, how the JSON lines are made,
the gradcli functions the loop calls (their own source, ``source.py``), the set-up, and the
loop (``loops.py``)."""

from __future__ import annotations

import re
import shlex
import sys
import textwrap
from dataclasses import replace
from string import Template

import torch

from gradcli import problems
from gradcli.data.feed import Shard
from gradcli.measure import SEGMENT_MAX, state_tensor
from gradcli.records import SMALL
from gradcli.render.numbers import spell
from gradcli.script import scaling
from gradcli.script.checkpoints import loader_lines, resume_lines, save_lines
from gradcli.script.data import counts, data_code, data_loop, windows
from gradcli.script.explained import (
    clip_explanation,
    explain_definitions,
    explain_functions,
    explain_imports,
    explain_rules,
    scaling_explanation,
)
from gradcli.script.extras import log_step, logged, renamed, rule_classes, state_of_two
from gradcli.script.literals import literal
from gradcli.script.loops import manual_loop, optim_loop, optimizer_names
from gradcli.script.passes import ACCUMULATION, CLOSED, Micro, autocast, gap_function
from gradcli.script.problems import problem_code
from gradcli.script.source import Definition, Gathered, gather
from gradcli.spec import RunSpec
from gradcli.train.clipping import Clipping
from gradcli.train.loss_scaling import HandScaler
from gradcli.train.setup import prepare
from gradcli.train.updates import _like, assign

_NUMBERS = Template('''\
def numbers(t: torch.Tensor) -> list[float] | dict[str, float]:
    """A tensor as gradcli records it: up to $small elements, the elements themselves as
    float64 numbers; past that, their L2 norm, mean, min and max. Up to $segment elements
    these are taken in float64 and the sums added one element after another, in order, as
    gradcli adds them (torch's own sum adds in blocks, and its last digit can differ); past
    $segment, in the tensor's own dtype with torch's sum and aminmax."""
    t = t.detach()$dense.reshape(-1)
    if t.numel() > $segment:
        low, high = torch.aminmax(t)
        square, total = (t * t).sum().item(), t.sum().item()
        low, high = low.item(), high.item()
    else:
        elements = t.double().tolist()
        if len(elements) <= $small:
            return elements
        square = total = 0.0
        low, high = math.inf, -math.inf
        for x in elements:
            square += x * x
            total += x
            if x != x or x < low:  # x != x: a NaN, which then stays
                low = x
            if x != x or high < x:
                high = x
    return {"norm": math.sqrt(square), "mean": total / t.numel(), "min": low, "max": high}


def change(after: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    """What the update changed: in float64, or past $segment elements in the dtype the
    statistics of such a tensor are taken in (its own)."""
    if after.numel() > $segment:
        return after - before
    return after.double() - before.double()


def log(
    step: int,
    loss: float | None,
    grads: list[torch.Tensor | None],
    before: list[torch.Tensor | None],${arguments}
) -> None:
    """One JSON line, as gradcli's: the loss and each gradient before the step's update,
    each parameter after it, and the change it made (value after − value before)."""
    record = {}
    for (name, p), grad, old in zip(model.named_parameters(), grads, before, strict=True):
        record[name] = {
            "shape": list(p.shape),
            "value": numbers(p),
            "grad": None if grad is None else numbers(grad),
            "update": None if old is None else numbers(change(p.detach(), old)),
        }
${state}    line = {"step": step, "loss": loss, "lr": None if step == 0 else lr}
${where}${clip}${scaling}${evaluations}${micro}    line["params"] = record
${explain}${spelled}    print(json.dumps(line, separators=(",", ":")${ascii})${out})
''')


def _command(spec: RunSpec, path: str, lr: float) -> str:
    """The gradcli command this script repeats (the optimizer in torch's constructor form
    where a keyword is set)."""
    optimizer = spec.optimizer
    if spec.settings:
        keywords = ", ".join(f"{k}={literal(v)}" for k, v in spec.settings.items())
        optimizer = f"'{spec.optimizer_info.torch_class}({keywords})'"
    chosen = [f"-o {optimizer}", *([f"--lr {literal(lr)}"] if spec.lr is not None else [])]
    return command_line(spec, path, chosen)


def command_line(spec: RunSpec, path: str, chosen: list[str]) -> str:
    """``gradcli PATH`` with the optimizers ``chosen`` (their words: ``-o ...``) and the
    run's other options, where they are not the defaults."""
    words = [f"gradcli {path}"]
    if spec.data is not None:
        words.append(f"--data {shlex.quote(spec.data)}")
        for option, value in (
            ("--target", spec.target),
            ("--task", spec.task),
            ("--data-dir", spec.data_dir),
        ):
            if value is not None:
                words.append(f"{option} {shlex.quote(str(value))}")
    words += [f"-m {shlex.quote(spec.model)}", *chosen]
    if spec.data is not None and spec.batch_size is not None:
        words.append(f"--batch-size {spec.batch_size}")
    if spec.data is not None and spec.epochs is not None:
        words.append(f"--epochs {spec.epochs}")
    else:
        words.append(f"--steps {spec.steps}")
    for option, value, default in (
        ("--seed", spec.seed, 0),
        ("--dtype", spec.dtype, "float32"),
        ("--device", spec.device, "auto"),
        ("--every", spec.every, 1),
        ("--impl", spec.impl, None),
        ("--val-fraction", spec.val_fraction, None),
        ("--data-seed", spec.data_seed, 0),
        ("--loss", spec.loss, None),
    ):
        if value != default:
            words.append(f"{option} {value}")
    if spec.data is not None:
        flags = (("--no-shuffle", not spec.shuffle), ("--drop-last", spec.drop_last))
        words += [flag for flag, on in flags if on]
    if spec.schedule is not None:
        words.append(f"--schedule {shlex.quote(spec.schedule)}")
        if spec.data is not None and spec.schedule_per != "batch":
            words.append(f"--schedule-per {spec.schedule_per}")
    for option, number in (
        ("--clip-norm", spec.clip_norm),
        ("--norm-type", spec.norm_type),
        ("--clip-value", spec.clip_value),
    ):
        if number is not None:
            words.append(f"{option} {literal(number)}")
    if spec.accumulate > 1:
        words.append(f"--accumulate {spec.accumulate}")
    if spec.amp is not None:
        words.append(f"--amp {spec.amp}")
    defaults = RunSpec.__dataclass_fields__
    for option, name in (("--loss-scale", "loss_scale"), ("--growth-interval", "growth_interval")):
        if getattr(spec, name) != defaults[name].default:
            words.append(f"{option} {literal(getattr(spec, name))}")
    words += ["--state"] if spec.state else []
    words += ["--explain"] if spec.explain else []
    for option, file in (("--save", spec.save), ("--resume", spec.resume)):
        if file is not None:
            words.append(f"{option} {shlex.quote(file)}")
    return " ".join(words)


def import_lines(lines: list[str]) -> list[str]:
    """``lines`` (``import x``, ``from x import a``) merged and ordered as ruff's isort
    orders them: the standard library, then the rest (torch), a blank line between; in each,
    ``import x`` before ``from x import ...``; the names of one module together."""
    straight: set[str] = set()
    names: dict[str, set[str]] = {}
    for line in lines:
        if line.startswith("from "):
            module, _, imported = line[5:].partition(" import ")
            names.setdefault(module, set()).update(n.strip() for n in imported.split(","))
        else:
            straight.add(line)

    def kind(name: str) -> tuple[int, str]:  # constants, classes, the rest (order-by-type)
        rank = 0 if name.isupper() and len(name) > 1 else 1 if name[0].isupper() else 2
        return rank, name.lower()

    sections: list[list[str]] = [[], []]
    for line in sorted(straight, key=lambda line: line.split()[1].lower()):
        sections[line.split()[1].split(".")[0] not in sys.stdlib_module_names].append(line)
    for module in sorted(names, key=str.lower):
        imported = ", ".join(sorted(names[module], key=kind))
        sections[module.split(".")[0] not in sys.stdlib_module_names].append(
            f"from {module} import {imported}"
        )
    return [*sections[0], *([""] if all(sections) else []), *sections[1]]


def _definitions(gathered: Gathered | None) -> list[str]:
    """gradcli's functions (and constants) that the script calls, as in their modules."""
    if gathered is None:
        return []
    lines = []
    for definition in _classes_before_signatures(list(gathered.definitions)):
        lines += [f"# {definition.name}, from {definition.where}", definition.code, ""]
    return lines


def _without(gathered: Gathered | None, written: Gathered | None) -> Gathered | None:
    """``gathered`` less the definitions ``written`` already wrote (the hand scaler's
    ``_float32``, which --explain's lines of the loss scaling call too)."""
    if gathered is None or written is None:
        return gathered
    done = {d.code for d in written.definitions}
    kept = tuple(d for d in gathered.definitions if d.code not in done)
    return Gathered(kept, gathered.imports)


def _classes_before_signatures(definitions: list[Definition]) -> list[Definition]:
    """``definitions`` with each class moved before the first function whose signature
    names it (``explain_line(formula: Callable[[Element, ...]], ...)``): a script
    evaluates annotations when it defines the function."""
    for definition in [d for d in definitions if d.code.startswith(("class ", "@"))]:
        word = re.compile(rf"\b{definition.name}\b")
        at = definitions.index(definition)
        for i, other in enumerate(definitions[:at]):
            if other.code.startswith("def ") and word.search(other.code.split(":\n", 1)[0]):
                definitions.insert(i, definitions.pop(at))
                break
    return definitions


# gradcli's stdout carries its records alone: what a user's model prints goes to stderr
# (``gradcli.usercode``), and so it does in the script; its JSON lines go to ``data_out``
TO_STDERR = [
    "# stdout carries the JSON lines alone, as gradcli's: what the model prints goes to stderr",
    "data_out, sys.stdout = sys.stdout, sys.stderr",
]


def program(spec: RunSpec, path: str, shard: Shard | None = None, stops: bool = False) -> str:
    """The script of ``spec`` on ``path`` (``shard``: with --data, the batches of rank 0 of
    ``gradcli ddp``'s, whose script ``ddp.py`` makes of this one; ``stops``: the script
    stops where gradcli stops, after a step that diverged, exit 3)."""
    training, info = prepare(spec, path, shard=shard)
    problem, feed = training.problem, training.feed
    device = torch.device(info.device)
    own = ":" in spec.model
    sparse = bool(problems.sparse_gradients(problem))
    if feed is None:
        code = problem_code(spec.model)
        imported, defined = code.imports, code.code
        forward = replace(CLOSED, autocast=autocast(spec.amp, device), micro=_slices(spec, problem))
    else:
        data = data_code(spec, feed, problem, device, problem_code(spec.model) if own else None)
        imported, defined, forward = data.imports, data.definitions, data.forward
    clipping = Clipping.of(spec)
    parts = assign(list(problem.parameters()), spec.optimizer_info, spec.hyperparameters())
    if path == "optim":
        body, settings, functions = optim_loop(parts, spec, device, own, forward)
    else:
        body, settings, functions = manual_loop(parts, spec, own, forward)
    optimizers = optimizer_names(parts)
    keywords = logged(spec, path, optimizers)
    scaled = spec.amp == "fp16"
    if scaled:  # (after clipping's, before --accumulate's: as the record has them)
        at = 2 if spec.clip_norm is not None or spec.clip_value is not None else 0
        keywords[at:at] = scaling.keywords(spec)
    kept_state = spec.state or spec.save is not None or spec.resume is not None
    if (kept_state or spec.explain) and path == "optim" and len(optimizers) > 1:  # (by index)
        settings = [*settings, *state_of_two(optimizers)]
    if scaled or stops:  # (how gradcli writes an inf or a NaN in JSON: a skipped step's
        functions = [*functions, spell]  # gradients, a diverged step's numbers)
    quiet = scaled and path == "optim" and spec.schedule is not None
    if quiet:
        after_function = [""] if settings and not settings[-1] else []  # (two blank lines)
        settings = [*settings, *after_function, *scaling.QUIET_SCHEDULER]
    if spec.state:  # (how gradcli makes one tensor of a state value)
        functions = [*functions, state_tensor]
    if spec.explain:  # the optimizer's formula, and the lines of a step
        functions = [*functions, *explain_functions(spec)]
        settings = [*settings, *explain_definitions(spec, path, optimizers, info.lr)]
    if forward.micro is not None:  # --accumulate: what the log adds, as gradcli computes it
        functions = [*functions, *ACCUMULATION]
        while settings and not settings[-1]:  # (two blank lines before a function, not 3)
            settings = settings[:-1]
        settings = [*settings, *(windows(spec.accumulate) if feed is not None else [])]
        settings = [*settings, *gap_function(forward, device, own, scaled)]
    if spec.resume is not None and path != "optim":  # (a saved state value on its parameter)
        functions = [*functions, _like]
    schedule = spec.schedule_spec if path != "optim" else None
    classes = () if schedule is None else rule_classes(schedule)  # the hand-written schedule
    called: tuple[tuple[type, tuple[str, ...]], ...] = ()
    if scaled and path != "optim":  # the gradient scaler by hand, and the methods called
        calls = scaling.HAND_SCALER_CALLS + (scaling.RESUME_CALLS if spec.resume else ())
        called = ((HandScaler, calls),)
    called = (*called, *explain_rules(spec))  # --explain: the closed form of the lr's line
    gathered = gather(*functions, classes=classes, called=called) if functions or classes else None
    clip_explained = clip_explanation(spec)  # (its explain, apart from the formula's)
    scaling_explained = scaling_explanation(spec)  # (the same)
    per_epoch = feed is not None and spec.schedule_per == "epoch"
    replay, replay_imports = (
        _replay(spec, path, renamed(optimizers, "scheduler"), feed.batches if per_epoch else None)
        if spec.resume is not None
        else ([], [])
    )
    imports = import_lines(
        [
            "import json",
            "import math",
            *(["import sys"] if stops else []),
            "import torch",
            *imported,
            *(gathered.imports if gathered else ()),
            *(clip_explained.imports if clip_explained else ()),
            *(scaling_explained.imports if scaling_explained else ()),
            *(["import copy"] if own and feed is None else []),
            *(["from functools import partial"] if schedule and schedule.children() else []),
            *explain_imports(spec),
            *replay_imports,
            *(["import warnings"] if quiet else []),
            *(["from collections.abc import Iterator"] if forward.micro and feed else []),
        ]
    )
    measures = "loss and accuracy" if feed is not None and feed.classification else "loss"
    epochs = (
        ""
        if feed is None
        else f" And one at the end of each epoch: its training {measures} as the batches "
        "saw them, and the held-out data's, under model.eval() and torch.no_grad()."
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
            f"and the learning rate the update used.{epochs}",
            width=92,
            break_on_hyphens=False,
        ),
        '"""',
        "",
        *imports,
        "",
        *([""] if defined.startswith(("class ", "def ")) else []),  # (as isort has it)
        defined.rstrip("\n"),
        "",
        "",
        _NUMBERS.substitute(
            small=SMALL,
            segment=SEGMENT_MAX,
            dense=".to_dense()" if sparse else "",
            arguments="".join(
                (
                    "" if feed is None else _WHERE_ARGUMENTS,
                    "" if clipping is None else _CLIP_ARGUMENTS,
                    scaling.LOG_ARGUMENTS if scaled else "",
                    _STATE_ARGUMENTS if spec.state else "",
                    _MICRO_ARGUMENTS if forward.micro else "",
                    _EXPLAIN_ARGUMENTS if spec.explain else "",
                )
            ),
            where="" if feed is None else _WHERE,
            clip="" if clipping is None else _CLIP,
            scaling=scaling.LOG if scaled else "",
            spelled=scaling.SPELLED if scaled or stops else "",
            state=_STATE if spec.state else "",
            micro=_MICRO if forward.micro else "",
            explain=_EXPLAIN if spec.explain else "",
            ascii=", ensure_ascii=False" if spec.explain else "",
            out=", file=data_out" if own and stops else "",
            evaluations=_EVALUATIONS if spec.optimizer_info.closure else "",
        ).rstrip("\n"),
        "",
        "",
        *_definitions(clip_explained),
        *(
            ["explain_clip = explain  # (the optimizer's formula below is named explain too)", ""]
            if clip_explained
            else []
        ),
        *([""] if clip_explained and scaling_explained else []),  # (two blank lines)
        *_definitions(scaling_explained),
        *(
            [
                "explain_scaling = explain  # (the optimizer's formula below is named explain too)",
                "",
            ]
            if scaling_explained
            else []
        ),
        *_definitions(_without(gathered, scaling_explained)),
    ]
    needs_loss = spec.schedule_spec is not None and spec.schedule_spec.scheduler.needs_loss
    resuming = spec.resume is not None
    saved_scaler = scaling.save_lines() if scaled else []
    resumed = resume_lines(spec, path, replay, optimizers) if resuming else []
    if resuming and scaled:
        resumed += scaling.resume_lines(spec)
    if needs_loss and spec.save is not None and spec.resume is None:
        resumed = ["fed = []  # the losses ReduceLROnPlateau is fed (a checkpoint holds them)"]
    if resumed and settings and not settings[-1]:  # (two blank lines after a function)
        resumed = ["", *resumed]
    if feed is not None:
        if resuming:
            resumed += loader_lines(feed.batches, feed.classification)
        setup = [
            *(TO_STDERR if own and stops else []),
            *data.setup,
            "params = list(model.parameters())",
            *counts(spec, feed),
            f"lr = {literal(info.lr)}",
            *settings,
            *resumed,
        ]
        loop = data_loop(
            body, spec, feed, path, keywords, tuple(optimizers), stops=stops, chatty=own and stops
        )
        if spec.save is not None:
            loop += save_lines(
                spec, path, needs_loss, len(optimizers), feed.classification, saved_scaler
            )
        return "\n".join([*head, *setup, *loop]) + "\n"
    setup = [
        *(TO_STDERR if own and stops else []),
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
        *(forward.micro.setup if forward.micro else []),
        f"steps = {spec.steps}",
        f"lr = {literal(info.lr)}",
        *settings,
        *resumed,
    ]
    loop = [
        "",
        *(["log(0, None, [None] * len(params), [None] * len(params))"] if not resuming else []),
        f"for step in range({'start + 1' if resuming else '1'}, steps + 1):",
        *("    " + line if line else "" for line in body),
    ]
    arguments = ["step", "loss.item()", "grads", "before", *keywords]
    loop += ["    " + line for line in log_step(spec, arguments, 4, stops)]
    if spec.save is not None:
        loop += save_lines(spec, path, needs_loss, len(optimizers), more=saved_scaler)
    return "\n".join([*head, *setup, *loop]) + "\n"


def _slices(spec: RunSpec, problem: torch.nn.Module) -> Micro | None:
    """With ``--accumulate K`` on a full-batch problem: its data cut into K equal slices,
    put in turn where ``forward()`` reads it (gradcli's ``Slices``)."""
    if spec.accumulate == 1:
        return None
    names = ", ".join(f"model.{name}" for name in getattr(problem, "data_buffers", ()))
    return Micro(
        spec.accumulate,
        "for micro_batch in micro_batches:",
        (f"{names} = micro_batch  # where forward() reads its data",),
        (f"{names} = data  # the whole data again",),
        setup=(
            f"# --accumulate {spec.accumulate}: the data cut into {spec.accumulate} equal "
            "micro-batches, as gradcli cuts it",
            f"data = ({names})",
            f"micro_batches = list(zip(*(d.chunk({spec.accumulate}) for d in data), strict=True))",
        ),
    )


def _replay(
    spec: RunSpec, path: str, schedulers: list[str], epoch: int | None = None
) -> tuple[list[str], list[str]]:
    """The steps the checkpoint's run stepped its schedule (each of ``schedulers``),
    replayed (ReduceLROnPlateau with the losses it was fed), as gradcli replays them; and
    the imports they need (``epoch``: the steps of an epoch, where it steps once an epoch)."""
    schedule = spec.schedule_spec
    if schedule is None:
        return [], []
    if schedule.scheduler.needs_loss:
        lines = [
            "# the schedule's steps so far, replayed with the losses it was fed",
            'fed = list(checkpoint.get("schedule_losses", []))',
            "for fed_loss in fed:",
            *(f"    {s}.step(fed_loss)" for s in schedulers),
        ]
    else:
        times = "start" if epoch is None else f"start // {epoch}"  # (once an epoch)
        lines = ["# the schedule's steps so far, replayed", f"for _ in range({times}):"]
        lines += [f"    {s}.step()" for s in schedulers]
    if path != "optim":
        return lines, []
    return [
        lines[0],
        "with warnings.catch_warnings():  # (torch warns of steps without optimizer.step())",
        '    warnings.simplefilter("ignore")',
        *("    " + line for line in lines[1:]),
    ], ["import warnings"]


# gradcli.problems.check_protocol, as a script has it
_PROBE = [
    "# gradcli tries forward() once on a copy before training, which draws from torch's",
    "# random numbers if forward() does (dropout): so does this script, to stay the same run",
    "copy.deepcopy(model)()",
]


_WHERE_ARGUMENTS = """
    epoch: int | None = None,
    batch: int | None = None,"""
_WHERE = """\
    if epoch is not None:  # which epoch, and which batch of it
        line["epoch"] = epoch
        line["batch"] = batch
"""

_CLIP_ARGUMENTS = """
    grad_norm: torch.Tensor | None = None,
    clipped: torch.Tensor | None = None,"""
_CLIP = """\
    if grad_norm is not None:  # the total norm before clipping, and whether it clipped
        line["grad_norm"] = grad_norm.item()
        line["clipped"] = bool(clipped)
"""
_STATE_ARGUMENTS = """
    states: list[dict] | None = None,"""
_STATE = """\
    if states is not None:  # --state: each parameter's optimizer state after the update
        for (name, _), state in zip(model.named_parameters(), states, strict=True):
            record[name]["state"] = {key: numbers(state_tensor(v)) for key, v in state.items()}
"""

_EXPLAIN_ARGUMENTS = """
    explain: list[str] | None = None,"""
_EXPLAIN = """\
    if explain is not None:  # --explain: each parameter's first element, in numbers (its
        # text written as it is, θ and all, as gradcli writes it)
        line["explain"] = explain
"""

_MICRO_ARGUMENTS = """
    micro_losses: list[float] | None = None,
    micro_grad_norms: list[float] | None = None,
    one_batch_ulps: int | None = None,"""
_MICRO = """\
    if micro_losses is not None:  # --accumulate: each micro-batch's loss, the norm of what
        # its backward added, the accumulated gradient vs one batch's (None: unequal sizes)
        line["micro_losses"] = micro_losses
        line["micro_grad_norms"] = micro_grad_norms
        line["one_batch_ulps"] = one_batch_ulps
"""

_EVALUATIONS = """\
    if step > 0:  # how many times LBFGS evaluated the loss in this step
        line["evaluations"] = evaluations
"""
