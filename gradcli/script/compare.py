"""``gradcli compare --print-script``: the comparison as one plain PyTorch program, which
prints compare's JSON lines bit for bit.

Each method's two paths become two generator functions, ``sgd_by_hand`` and
``sgd_with_torch``: the set-up of ``--print-script``'s own loops (``loops.py``: the rule or
the optimizer, the schedule, the clipping, the gradient scaler), then the same loop body
(``passes.py``: the forward under autocast, the micro-batches), which yields what compare
records of the step (its loss, the lr, S and whether the scaler skipped it) at its end
instead of logging it. On ``--data`` the loop is ``data_loop``'s, over epochs and their
batches from each path's own ``DataLoader``, which also yields the end of each epoch. The
comparison steps every method's two paths in turn, as ``gradcli.train.compare`` does,
measures the gap between them with gradcli's own ``gaps`` (its source, as the rules'), and
prints the ends of an epoch once every method has taken its last step. What a script
cannot repeat is refused (``refusal``), in one line, before anything is printed.
"""

from __future__ import annotations

import itertools
import re
import shlex
import textwrap
from dataclasses import dataclass, replace

import torch
from torch import nn

from gradcli import problems
from gradcli.data.feed import Feed
from gradcli.errors import GradcliError
from gradcli.render.numbers import spell
from gradcli.script import refusal
from gradcli.script.data import counts, data_code, data_loop, windows
from gradcli.script.extras import CLIP_STEP, rule_classes
from gradcli.script.literals import LINE_LENGTH, call, literal
from gradcli.script.loops import CLOSED, manual_loop, optim_loop, optimizer_names
from gradcli.script.passes import Forward, autocast
from gradcli.script.problems import problem_code
from gradcli.script.program import (
    _PROBE,
    TO_STDERR,
    _definitions,
    _slices,
    command_line,
    import_lines,
)
from gradcli.script.scaling import HAND_SCALER_CALLS, QUIET_SCHEDULER
from gradcli.script.source import Definition, Gathered, gather
from gradcli.spec import RunSpec, constructor
from gradcli.train.compare import Comparison, gaps
from gradcli.train.loss_scaling import HandScaler
from gradcli.train.updates import assign

# the loop body sits in ``while True:`` in a function: two indents deeper than a script's
IN_A_FUNCTION = replace(CLOSED, depth=8)


def compare_script(specs: list[RunSpec]) -> str:
    """The script of ``gradcli compare`` with ``specs``: the runs set up as compare sets
    them up (so that their errors are the same), then written out."""
    wrong = refusal(specs[0], "compare")  # (what every run shares is the first one's)
    if wrong is not None:
        raise GradcliError(wrong)
    comparison = Comparison(specs)
    spec = specs[0]
    device = torch.device(comparison.info.device)
    own = ":" in spec.model
    problem, feed = comparison.pairs[0][1].problem, comparison.pairs[0][1].feed
    scaled = spec.amp == "fp16"
    made = _made(spec, problem, feed, device)
    forward = made.forward
    step = _Step(feed is not None, scaled)
    # --accumulate K on a problem that holds its data: the data cut into K, on each model
    sliced = list(forward.micro.setup) if forward.micro else []
    names = _names(specs)
    paths: list[str] = []
    groups = [gather(gaps, spell)]  # and each run's rules, with the helpers they call
    if scaled:  # the manual paths' gradient scaler, by hand (HandScaler's source)
        groups.append(gather(called=((HandScaler, HAND_SCALER_CALLS),)))
    runs = zip(specs, comparison.pairs, comparison.summaries, names, strict=True)
    for run, (_, optim), summary, name in runs:
        params = list(optim.problem.parameters())
        parts = assign(params, run.optimizer_info, run.hyperparameters())
        optimizers = optimizer_names(parts)
        # the hand-written rule for torch's implementation, as compare pairs them
        by_hand = replace(run, impl=None if run.impl == "fused" else run.impl)
        body, setup, needed = manual_loop(parts, by_hand, own, forward)
        loop = [*made.loader, *_loop(body, by_hand, "manual", step, optimizers, feed)]
        setup = [*sliced, *setup]
        paths += _path(f"{name}_by_hand", _BY_HAND.format(name=name), setup, loop, summary.lr, step)
        body, setup, more = optim_loop(parts, run, device, own, forward)
        loop = [*made.loader, *_loop(body, run, "optim", step, optimizers, feed)]
        paths += _path(f"{name}_with_torch", _WITH_TORCH, [*sliced, *setup], loop, summary.lr, step)
        groups.append(gather(*needed, *more))
    schedule = spec.schedule_spec
    classes = () if schedule is None else rule_classes(schedule)
    gathered = _merged([*groups, *([gather(classes=classes)] if classes else [])])
    quiet = scaled and schedule is not None  # (torch.optim's scheduler, after a skipped step)
    imports = import_lines(
        [
            "import json",
            "import math",
            "import sys",
            "import torch",
            "from collections.abc import Iterator",
            "from torch import nn",
            *made.imports,
            *gathered.imports,
            *(["import copy"] if own else []),
            *(["from functools import partial"] if schedule and schedule.children() else []),
            *(["import warnings"] if quiet else []),
        ]
    )
    sparse = bool(problems.sparse_gradients(problem))
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
            "ULPs, and whether every bit is the same)"
            + (
                ", and torch.optim's loss scale S and whether it skipped the update."
                if scaled
                else "."
            )
            + (
                " And one line per optimizer at the end of each epoch: torch.optim's training "
                "loss as the batches saw it and the held-out data's, as gradcli compare's."
                if feed
                else ""
            ),
            width=92,
            break_on_hyphens=False,
        ),
        '"""',
        "",
        *imports,
        "",
        *([""] if made.defined.startswith(("class ", "def ")) else []),  # (as isort has it)
        made.defined.rstrip("\n"),
        "",
        "",
        *_definitions(gathered),
        *([*windows(spec.accumulate)[2:], "", ""] if feed and forward.micro else []),
        *([*made.data, ""] if made.data else []),
        *_make_model(made.network, sparse, "network" if feed else "problem"),
        *step.alias(),
        *paths,
        "",
        "",
        "# each optimizer, in gradcli's order: its name, its label, and its two paths",
        "METHODS = [",
        *methods,
        "]",
        *_main(
            counts(spec, feed) if feed else [f"steps = {spec.steps}"],
            step,
            QUIET_SCHEDULER if quiet else [],
            None if feed is None else feed.batches,
            own,
        ),
    ]
    return "\n".join(head) + "\n"


@dataclass(frozen=True)
class _Made:
    """What a compare script trains, and on what: the ``imports`` and the code (``defined``)
    of the problem, or of the reader of its ``--data``; the module's set-up of the ``data``
    (read once, for every path); the lines that make the ``network`` (each path's model);
    each path's ``loader`` of the data's batches; and how a step's loss is computed."""

    imports: tuple[str, ...]
    defined: str
    data: list[str]
    network: list[str]
    loader: list[str]
    forward: Forward


def _made(spec: RunSpec, problem: nn.Module, feed: Feed | None, device: torch.device) -> _Made:
    """The problem (or the data and the network) of ``spec``, which gradcli built."""
    own = ":" in spec.model
    if feed is None:
        code = problem_code(spec.model)
        forward = replace(IN_A_FUNCTION, autocast=autocast(spec.amp, device))
        forward = replace(forward, micro=_slices(spec, problem))
        network = [
            f"torch.manual_seed({spec.seed})",
            f'model = {code.make}.to(device="{device}", dtype=torch.{spec.dtype})',
            *(_PROBE if own else []),
        ]
        made = _Made(code.imports, code.code, [], network, [], forward)
    else:
        data = data_code(spec, feed, problem, device, problem_code(spec.model) if own else None)
        forward = replace(data.forward, depth=IN_A_FUNCTION.depth + 4)  # (and in the epochs)
        data_setup = [*data.reading, "", *data.factory]
        made = _Made(data.imports, data.definitions, data_setup, data.network, data.loader, forward)
    if made.forward.micro is None:
        return made
    # --accumulate K: compare's records show nothing of the micro-batches
    return replace(made, forward=replace(forward, micro=replace(forward.micro, logged=False)))


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


@dataclass(frozen=True)
class _Step:
    """What each path hands the comparison after a step: its loss (before the update) and
    the lr the update used; on ``data`` the epoch and the batch; ``scaled`` (--amp fp16)
    the loss scale S of its backward and whether the scaler skipped the update. On data,
    after an epoch's last step, the end of the epoch too (its line)."""

    data: bool
    scaled: bool

    @property
    def names(self) -> list[str]:
        return [
            "loss",
            "lr",
            *(["epoch", "batch"] if self.data else []),
            *(["scale", "skipped"] if self.scaled else []),
        ]

    def alias(self) -> list[str]:
        """``Step``, the type of what a path yields after a step."""
        types = dict(loss="torch.Tensor", epoch="int", batch="int", skipped="bool")
        described = {
            "loss": "its loss (before the update)",
            "lr": "the lr the update used",
            "epoch": "its epoch and batch",
            "scale": "the loss scale S and whether the scaler skipped the update",
        }
        what = [described[name] for name in self.names if name in described]
        said = ", ".join(what)
        ends = (
            "; and after an epoch's last step, the end of the epoch (its line)" if self.data else ""
        )
        return [
            "",
            "",
            *textwrap.wrap(
                f"what a path yields after each step: {said}{ends}",
                LINE_LENGTH,
                initial_indent="# ",
                subsequent_indent="# ",
            ),
            f"Step = tuple[{', '.join(types.get(name, 'float') for name in self.names)}]",
        ]

    @property
    def yielded(self) -> str:
        """The annotation of a path."""
        return "Iterator[Step | dict[str, float | None]]" if self.data else "Iterator[Step]"


def _loop(
    body: list[str],
    run: RunSpec,
    path: str,
    step: _Step,
    optimizers: list[str],
    feed: Feed | None,
) -> list[str]:
    """A path's loop: one step each time the comparison asks for one (on data, the loop
    over epochs and their batches, ``data_loop``'s), which ends by yielding what the
    comparison records. The script's log lines go: the comparison keeps no gradients or
    parameters."""
    kept = [_UNLOGGED.get(line, line) for line in body if not line.startswith(_KEEP)]
    *kept, last = kept
    assert last.endswith(". log"), last
    handed = last.removesuffix("log") + "to the comparison"
    if feed is not None:
        compared = [f"yield {', '.join(step.names)}"]
        loop = data_loop([*kept, handed], run, feed, path, [], tuple(optimizers), compared)
        return loop[1:]  # (its first line is blank)
    return [
        "while True:  # one step each time the comparison asks for one",
        *("    " + line if line else "" for line in kept),
        f"    {handed}: what it records of the step (Step, above)",
        f"    yield {', '.join(step.names)}",
    ]


def _path(
    name: str, doc: str, setup: list[str], loop: list[str], lr: float, step: _Step
) -> list[str]:
    """One path of one method as a generator: the set-up, then the ``loop``."""
    inner: list[str] = []
    for line in _joined(setup):  # (one blank line between a function's statements, as ruff)
        if line or (inner and inner[-1]):
            inner.append(line.replace("global evaluations", "nonlocal evaluations"))
    return [
        "",
        "",
        f"def {name}(model: nn.Module) -> {step.yielded}:",
        *textwrap.wrap(doc, 92, initial_indent="    ", subsequent_indent="    "),
        "    params = list(model.parameters())",
        f"    lr = {literal(lr)}",
        *(fitted for line in inner for fitted in (_fitted("    " + line) if line else [""])),
        *("    " + line if line else "" for line in loop),
    ]


def _make_model(lines: list[str], sparse: bool, what: str) -> list[str]:
    """``def make_model()``, which makes the model with ``lines``."""
    return [
        "def make_model() -> nn.Module:",
        f'    """The {what} as gradcli builds it for each path of each method: the same initial',
        '    parameters, drawn from --seed, every time."""',
        *(_SPARSE if sparse else []),
        *("    " + line if line else "" for line in lines),
        "    return model",
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
    'each step what the comparison records of it (Step, above)."""'
)
_WITH_TORCH = (
    '"""The same with torch.optim, on a model of its own: zero_grad(), forward, backward, '
    'step(). Yields after each step what the comparison records of it."""'
)
_SPARSE = [
    "    # torch's default, made explicit: else each sparse tensor built here warns",
    "    torch.sparse.check_sparse_tensor_invariants.disable()",
]
_LOG = '''

def log(**record: object) -> None:
    """One JSON line, as gradcli compare's (JSON has no NaN or infinity: spelled as text)."""
    print(json.dumps(spell(record), separators=(",", ":"), ensure_ascii=False))


'''
_START = """\
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
"""
_STEP = """\
        # how far apart the two paths' parameters are after it
        apart = gaps(list(manual_model.parameters()), list(optim_model.parameters()))
        max_abs_diff, max_ulps, differs = apart.tolist()
        log(
            step=step,
            optimizer=optimizer,
            label=label,
            lr=lr,
{where}\
            manual_loss=manual_loss.item(),
            optim_loss=optim_loss.item(),
{scaling}\
            max_abs_diff=max_abs_diff,
            max_ulps=int(max_ulps),
            bit_identical=not differs,
        )
        finite = finite and all(map(math.isfinite, (manual_loss.item(), optim_loss.item())))
    if not finite:  # gradcli stops after the step where a loss is no longer finite (exit 3)
        print(f"step {{step}}: a loss is not finite; try a smaller lr", file=sys.stderr)
        sys.exit(3)
"""
_EPOCH_END = """\
    if step % batches == 0:  # an epoch ended: every method's end of it, after its last step
        for optimizer, label, _, manual, _, optim in runs:
            next(manual)  # (by hand too: a schedule stepped once an epoch steps there)
            line = next(optim)  # compare's line is torch.optim's: the same as gradcli optim's
            log(
                epoch_end=line.pop("epoch_end"),
                step=line.pop("step"),
                optimizer=optimizer,
                label=label,
                **line,
            )
"""


def _main(
    counted: list[str], step: _Step, quiet: list[str], batches: int | None, own: bool
) -> list[str]:
    """The comparison: each method's two paths on models of their own from the same start,
    stepped in turn, one JSON line per step and method (``counted``: the steps, and on data
    the epochs; ``quiet``: what keeps torch.optim's scheduler quiet after a skipped step;
    ``own``: a user's model, whose prints go to stderr, the lines to ``data_out``)."""
    where = "".join(f"            {name}={name},\n" for name in ("epoch", "batch") if step.data)
    scaled = ("scale", "skipped") if step.scaled else ()
    scaling = "".join(f"            {name}={name},\n" for name in scaled)
    by_hand = [
        "manual_loss",
        "lr",
        *(["epoch", "batch"] if step.data else []),
        *("*_",) * step.scaled,
    ]
    with_torch = ["optim_loss", "*_", *scaled]
    return [
        *(_LOG.replace("=False)", "=False), file=data_out") if own else _LOG).splitlines(),
        *(TO_STDERR if own else []),
        *counted,
        *([f"batches = {batches}  # the steps of an epoch"] if batches else []),
        *quiet,
        *_START.splitlines(),
        f"        {', '.join(by_hand)} = next(manual)  # one step by hand",
        *(
            ["        # the same step with torch.optim, whose S and skipped compare records"]
            if scaled
            else []
        ),
        f"        {', '.join(with_torch)} = next(optim)"
        + ("" if scaled else "  # the same step with torch.optim"),
        *_STEP.format(where=where, scaling=scaling).splitlines(),
        *(_EPOCH_END.splitlines() if batches else []),
    ]


def _command(specs: list[RunSpec]) -> str:
    """The gradcli command this script repeats: each run as ``-o`` (torch's constructor
    where a keyword is set), then the options every run shares."""
    chosen = []
    for run in specs:
        given = run.optimizer
        if run.lr is not None or run.settings:
            given = shlex.quote(constructor(run.optimizer, run.lr, run.settings))
        chosen.append(f"-o {given}")
    return command_line(specs[0].with_every(), "compare", chosen)
