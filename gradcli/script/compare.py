"""``gradcli compare --print-script``: the comparison as one plain PyTorch program, which
prints compare's JSON lines bit for bit.

Each method's two paths become two generator functions, ``sgd_by_hand`` and
``sgd_with_torch``: the set-up of ``--print-script``'s own loops (``loops.py``: the rule or
the optimizer, the schedule, the clipping), then the same loop body, which yields the step's
loss and lr to the comparison at the end of each step instead of logging them. The
comparison steps every method's two paths in turn, as ``gradcli.train.compare`` does, and
measures the gap between them with gradcli's own ``gaps`` (its source, as the rules'). What
a compare script cannot repeat yet is refused here, in one line, before anything is printed.
"""

from __future__ import annotations

import itertools
import re
import shlex
import textwrap
from dataclasses import replace

import torch

from gradcli import problems
from gradcli.errors import GradcliError
from gradcli.render.numbers import spell
from gradcli.script import refusal
from gradcli.script.extras import CLIP_STEP, rule_classes
from gradcli.script.literals import LINE_LENGTH, call, literal
from gradcli.script.loops import CLOSED, manual_loop, optim_loop
from gradcli.script.problems import problem_code
from gradcli.script.program import _PROBE, _definitions, import_lines
from gradcli.script.source import Definition, Gathered, gather
from gradcli.spec import RunSpec, constructor
from gradcli.train.compare import Comparison, gaps
from gradcli.train.updates import assign

# the loop body sits in ``while True:`` in a function: two indents deeper than a script's
IN_A_FUNCTION = replace(CLOSED, depth=8)


def compare_refusal(specs: list[RunSpec]) -> str | None:
    """Why ``gradcli compare`` with these runs cannot be printed as a script, if it cannot
    (torch-free checks: what every run shares is the first one's)."""
    spec = specs[0]
    wrong = refusal(spec, "compare")
    if wrong is not None:
        return wrong
    if spec.data is not None:
        return (
            "--print-script: gradcli compare writes a script without --data only, for now "
            "(its ends of epochs, one run after another, are not written out yet); "
            "gradcli optim and manual write one with --data"
        )
    for option, given in (("--accumulate", spec.accumulate != 1), ("--amp", spec.amp)):
        if given:
            return f"--print-script: a script does not repeat {option} yet; leave it out"
    return None


def compare_script(specs: list[RunSpec]) -> str:
    """The script of ``gradcli compare`` with ``specs``: the runs set up as compare sets
    them up (so that their errors are the same), then written out."""
    wrong = compare_refusal(specs)
    if wrong is not None:
        raise GradcliError(wrong)
    comparison = Comparison(specs)
    spec = specs[0]
    device = torch.device(comparison.info.device)
    own = ":" in spec.model
    code = problem_code(spec.model)
    names = _names(specs)
    paths: list[str] = []
    groups = [gather(gaps, spell)]  # and each run's rules, with the helpers they call
    runs = zip(specs, comparison.pairs, comparison.summaries, names, strict=True)
    for run, (_, optim), summary, name in runs:
        params = list(optim.problem.parameters())
        parts = assign(params, run.optimizer_info, run.hyperparameters())
        # the hand-written rule for torch's implementation, as compare pairs them
        by_hand = replace(run, impl=None if run.impl == "fused" else run.impl)
        body, setup, needed = manual_loop(parts, by_hand, own, IN_A_FUNCTION)
        paths += _path(f"{name}_by_hand", _BY_HAND.format(name=name), setup, body, summary.lr)
        body, setup, more = optim_loop(parts, run, device, own, IN_A_FUNCTION)
        paths += _path(f"{name}_with_torch", _WITH_TORCH, setup, body, summary.lr)
        groups.append(gather(*needed, *more))
    schedule = spec.schedule_spec
    classes = () if schedule is None else rule_classes(schedule)
    gathered = _merged([*groups, *([gather(classes=classes)] if classes else [])])
    imports = import_lines(
        [
            "import json",
            "import math",
            "import sys",
            "import torch",
            "from collections.abc import Iterator",
            "from torch import nn",
            *code.imports,
            *gathered.imports,
            *(["import copy"] if own else []),
            *(["from functools import partial"] if schedule and schedule.children() else []),
        ]
    )
    sparse = bool(problems.sparse_gradients(comparison.pairs[0][1].problem))
    methods = []  # (ruff format's layout of a tuple in a list: one line, else one a line)
    for summary, name in zip(comparison.summaries, names, strict=True):
        items = [literal(summary.optimizer), literal(summary.label)]
        items += [f"{name}_by_hand", f"{name}_with_torch"]
        one = f"    ({', '.join(items)}),"
        if len(one) <= LINE_LENGTH:
            methods.append(one)
            continue
        long = "  # noqa: E501"  # (a label longer than a line stays one string)
        lines = [f"        {item}," + long * (len(item) + 9 > LINE_LENGTH) for item in items]
        methods += ["    (", *lines, "    ),"]
    head = [
        '"""This gradcli run as a plain PyTorch script:',
        "",
        *textwrap.wrap(
            _command(specs),
            width=92,
            initial_indent="    ",
            subsequent_indent="        ",
            break_on_hyphens=False,
        ),
        "",
        *textwrap.wrap(
            "It runs each optimizer two ways from the same start, by hand (gradcli's rule) and "
            "with torch.optim, one step of each in turn, and prints one JSON line per step and "
            "optimizer, the same as gradcli compare's with --format jsonl: each path's loss "
            "before the step's update, the lr the update used, and how far apart the two "
            "paths' parameters are after it (the largest absolute difference, the same in "
            "ULPs, and whether every bit is the same).",
            width=92,
            break_on_hyphens=False,
        ),
        '"""',
        "",
        *imports,
        "",
        *([""] if code.code.startswith(("class ", "def ")) else []),  # (as isort has it)
        code.code.rstrip("\n"),
        "",
        "",
        *_definitions(gathered),
        *_MAKE_MODEL.format(
            sparse=_SPARSE if sparse else "",
            seed=spec.seed,
            make=code.make,
            device=device,
            dtype=spec.dtype,
            probe="".join(f"    {line}\n" for line in _PROBE) if own else "",
        ).splitlines(),
        *paths,
        "",
        "",
        "# each optimizer, in gradcli's order: its name, its label, and its two paths",
        "METHODS = [",
        *methods,
        "]",
        *_MAIN.format(steps=spec.steps).splitlines(),
    ]
    return "\n".join(head) + "\n"


def _merged(groups: list[Gathered]) -> Gathered:
    """The definitions of several ``gather``s in one listing. Two rules may call different
    helpers of one name (adam's ``_start``, adagrad's), and a script's name means one
    function: the later one takes its module's name in front (``_adagrad_start``), in its
    definition and in the code of its run that calls it."""
    where_of: dict[str, str] = {}  # each name in the listing → the file it comes from
    definitions: list[Definition] = []
    imports: dict[str, None] = {}
    for group in groups:
        renamed = {
            d.name: _renamed(d)
            for d in group.definitions
            if where_of.get(d.name, d.where) != d.where
        }
        for definition in group.definitions:
            name, code = renamed.get(definition.name, definition.name), definition.code
            for old, new in renamed.items():
                code = re.sub(rf"(?<![\w.]){re.escape(old)}(?!\w)", new, code)
            if renamed:
                code = "\n".join(f for line in code.split("\n") for f in _fitted(line))
            if name in where_of:  # (the same function, gathered for an earlier run)
                continue
            where_of[name] = definition.where
            shown = name if name == definition.name else f"{definition.name} as {name}"
            definitions.append(Definition(shown, definition.where, code))
        imports.update(dict.fromkeys(group.imports))
    return Gathered(tuple(definitions), tuple(imports))


def _renamed(definition: Definition) -> str:
    """``_start`` of ``gradcli/optimizers/adagrad.py`` as ``_adagrad_start``."""
    module = definition.where.rpartition("/")[2].removesuffix(".py")
    if definition.name.startswith("_"):
        return f"_{module}{definition.name}"
    return f"{module}_{definition.name}"


def _names(specs: list[RunSpec]) -> list[str]:
    """A Python name per run: its optimizer's, numbered where one optimizer runs twice."""
    names = []
    for i, spec in enumerate(specs):
        same = [s for s in specs[:i] if s.optimizer == spec.optimizer]
        twice = any(s.optimizer == spec.optimizer for s in specs[i + 1 :]) or same
        names.append(f"{spec.optimizer}_{len(same) + 1}" if twice else spec.optimizer)
    return names


def _path(name: str, doc: str, setup: list[str], body: list[str], lr: float) -> list[str]:
    """One path of one method as a generator: the set-up, then one step each time the
    comparison asks for one, which yields the loss before the update and the lr it used.
    The script's log lines go: the comparison keeps no gradients or parameters."""
    kept = [_UNLOGGED.get(line, line) for line in body if not line.startswith(_KEEP)]
    *kept, last = kept
    assert last.endswith(". log"), last
    kept.append(last.removesuffix("log") + "to the comparison: the loss, and the lr it used")
    inner: list[str] = []
    for line in _joined(setup):  # (one blank line between a function's statements, as ruff)
        if line or (inner and inner[-1]):
            inner.append(line.replace("global evaluations", "nonlocal evaluations"))
    return [
        "",
        "",
        f"def {name}(model: nn.Module) -> Iterator[tuple[torch.Tensor, float]]:",
        *textwrap.wrap(doc, 92, initial_indent="    ", subsequent_indent="    "),
        "    params = list(model.parameters())",
        f"    lr = {literal(lr)}",
        *(fitted for line in inner for fitted in (_fitted("    " + line) if line else [""])),
        "    while True:  # one step each time the comparison asks for one",
        *("        " + line if line else "" for line in kept),
        "        yield loss, lr",
    ]


def _joined(lines: list[str]) -> list[str]:
    """``lines`` with each call laid out over several lines (``call``) on one line again,
    to be laid out anew where it goes (``_fitted``)."""
    joined: list[str] = []
    opened: list[str] = []  # the lines of a call laid out over several, so far
    for line in lines:
        if opened:
            opened.append(line.strip())
            if line.strip().startswith(")"):
                first, *inside, last = opened
                joined.append(first + " ".join(inside).rstrip(",") + last)
                opened = []
        elif line.endswith("(") and "#" not in line:
            opened = [line]
        else:
            joined.append(line)
    return joined


def _fitted(line: str) -> list[str]:
    """``line`` as ruff format lays it out (``call``'s layout) where it is too long: a call,
    or a def's signature, that fitted where gradcli laid it out and no longer does here (set
    up in a function, one indent deeper; a helper renamed). Lines with a comment are left
    as they are."""
    if len(line) <= LINE_LENGTH or "#" in line or ")" not in line:
        return [line]
    close = line.rindex(")")
    frames: list[tuple[int, list[int]]] = []  # each open bracket: where, and its commas
    quote = ""
    for at, char in enumerate(line[: close + 1]):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            frames.append((at, []))
        elif char in ")]}":
            opened, commas = frames.pop()
        elif char == "," and frames:
            frames[-1][1].append(at)
    cuts = [opened, *commas, close]
    pieces = [line[a + 1 : b].strip() for a, b in itertools.pairwise(cuts)]
    indent = len(line) - len(line.lstrip())
    head, pieces, tail = line[indent:opened], [p for p in pieces if p], line[close + 1 :]
    laid = call(head, pieces, indent)
    if len(laid) == 1:  # (it fits without what follows it, `-> None:`: its arguments do)
        laid = [f"{head}(", f"    {', '.join(pieces)}", ")"]
    laid[-1] += tail
    return [" " * indent + text for text in laid]


_KEEP = ("# keep what the log shows", "grads = [", "before = [")
# clip() returns what a script's log shows (the norm, whether it clipped): called for its work
_UNLOGGED = dict(
    zip(CLIP_STEP, ["# clip the gradients, before the update uses them", "clip()"], strict=True)
)
_BY_HAND = (
    '"""{name} by hand on model, as gradcli\'s manual path runs it: gradcli\'s rule (above) '
    "in place under torch.no_grad(), the gradients dropped after each update. Yields after "
    'each step its loss (before the update) and the lr the update used."""'
)
_WITH_TORCH = (
    '"""The same with torch.optim, on a model of its own: zero_grad(), forward, backward, '
    'step(). Yields after each step its loss (before the update) and the lr."""'
)
_SPARSE = (
    "    # torch's default, made explicit: else each sparse tensor built here warns\n"
    "    torch.sparse.check_sparse_tensor_invariants.disable()\n"
)
_MAKE_MODEL = '''def make_model() -> nn.Module:
    """The problem as gradcli builds it for each path of each method: the same initial
    parameters, drawn from --seed, every time."""
{sparse}    torch.manual_seed({seed})
    model = {make}.to(device="{device}", dtype=torch.{dtype})
{probe}    return model
'''
_MAIN = '''

def log(**record: object) -> None:
    """One JSON line, as gradcli compare's (JSON has no NaN or infinity: spelled as text)."""
    print(json.dumps(spell(record), separators=(",", ":"), ensure_ascii=False))


steps = {steps}
runs = []
for optimizer, label, by_hand, with_torch in METHODS:
    # each path on a model of its own, from the same start (by hand first, as gradcli)
    manual_model, optim_model = make_model(), make_model()
    manual, optim = by_hand(manual_model), with_torch(optim_model)
    runs.append((optimizer, label, manual_model, manual, optim_model, optim))
for optimizer, label, *_ in runs:  # step 0: no update yet, both paths where they start
    log(
        step=0,
        optimizer=optimizer,
        label=label,
        lr=None,
        manual_loss=None,
        optim_loss=None,
        max_abs_diff=0.0,
        max_ulps=0,
        bit_identical=True,
    )
for step in range(1, steps + 1):
    finite = True
    for optimizer, label, manual_model, manual, optim_model, optim in runs:
        manual_loss, lr = next(manual)  # one step by hand
        optim_loss, _ = next(optim)  # the same step with torch.optim
        # how far apart the two paths' parameters are after it
        apart = gaps(list(manual_model.parameters()), list(optim_model.parameters()))
        max_abs_diff, max_ulps, differs = apart.tolist()
        log(
            step=step,
            optimizer=optimizer,
            label=label,
            lr=lr,
            manual_loss=manual_loss.item(),
            optim_loss=optim_loss.item(),
            max_abs_diff=max_abs_diff,
            max_ulps=int(max_ulps),
            bit_identical=not differs,
        )
        finite = finite and all(map(math.isfinite, (manual_loss.item(), optim_loss.item())))
    if not finite:  # gradcli stops after the step where a loss is no longer finite (exit 3)
        print(f"step {{step}}: a loss is not finite; try a smaller lr", file=sys.stderr)
        sys.exit(3)
'''


def _command(specs: list[RunSpec]) -> str:
    """The gradcli command this script repeats: each run as ``-o`` (torch's constructor
    where a keyword is set), then the options every run shares."""
    spec = specs[0]
    words = ["gradcli compare", f"-m {spec.model}"]
    for run in specs:
        given = run.optimizer
        if run.lr is not None or run.settings:
            given = shlex.quote(constructor(run.optimizer, run.lr, run.settings))
        words.append(f"-o {given}")
    shared = [
        ("--steps", spec.steps, None),
        ("--seed", spec.seed, 0),
        ("--dtype", spec.dtype, "float32"),
        ("--device", spec.device, "auto"),
        ("--impl", spec.impl, None),
        ("--schedule", spec.schedule and shlex.quote(spec.schedule), None),
        ("--clip-norm", spec.clip_norm, None),
        ("--norm-type", spec.norm_type, None),
        ("--clip-value", spec.clip_value, None),
    ]
    words += [f"{option} {value}" for option, value, default in shared if value != default]
    return " ".join(words)
