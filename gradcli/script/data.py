"""A run on ``--data`` as a script writes it: the data read and split as gradcli reads and
splits it, the architecture written out from the network gradcli built (so the two cannot
drift apart), a ``DataLoader`` with its own seeded generator, the loop over epochs and their
batches, and the held-out data evaluated under ``model.eval()`` and ``torch.no_grad()`` at
the end of each epoch, in the order of gradcli's sums (``gradcli/data/feed.py``), so that
every number is the same.

The samples are read by ``readers.py``. A user's own network (``--model file.py:factory``)
is imported as ``problems.py`` imports a closed problem's factory, and tried on two samples
as gradcli tries it (``gradcli.data.models.check_outputs``), which may draw random numbers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from gradcli._startup.threads import GRAIN
from gradcli.data.dataset import CLASSIFICATION, DataSet
from gradcli.data.feed import CROSS_ENTROPY, EVAL_BATCH, Feed
from gradcli.errors import GradcliError
from gradcli.script.extras import log_step, renamed
from gradcli.script.passes import Forward, Micro, _comment, autocast
from gradcli.script.problems import ProblemCode
from gradcli.script.readers import reader
from gradcli.spec import RunSpec


@dataclass(frozen=True)
class DataCode:
    """What a script on ``--data`` adds: imports, definitions (the reader, ``evaluate``),
    the set-up (``reading``: the data and its split; ``factory``: what imports a user's
    network; ``network``: the network built; ``loader``: the loader) and how a step's loss
    is computed on its batch."""

    imports: tuple[str, ...]
    definitions: str
    reading: list[str]
    factory: list[str]
    network: list[str]
    loader: list[str]
    forward: Forward

    @property
    def setup(self) -> list[str]:
        """The set-up of a run: the data, the network, the loader."""
        return [*self.reading, "", *self.factory, *self.network, "", *self.loader]


def _loss(feed: Feed, outputs: str, y: str, reduction: str | None = None) -> str:
    """The task's loss as an expression: cross-entropy on the labels, or the mean squared
    error against the targets (``y``: labels made one-hot in the run's dtype already)."""
    how = "" if reduction is None else f', reduction="{reduction}"'
    if feed.loss_name == CROSS_ENTROPY:
        return f"F.cross_entropy({outputs}, {y}{how})"
    return f"F.mse_loss({outputs}, {y}{how})"


def _one_hot(feed: Feed) -> bool:
    """The mean squared error on class labels: they are compared one-hot."""
    return feed.classification and feed.loss_name != CROSS_ENTROPY


def _targets(feed: Feed, y: str) -> str:
    """What the loss compares the outputs with: ``y``, made one-hot in the run's dtype for
    --loss mse on classes."""
    return f"F.one_hot({y}, {feed.data.outputs}).to({feed.dtype})" if _one_hot(feed) else y


def _evaluate(feed: Feed) -> str:
    """``evaluate(model, x, y)``: gradcli's held-out evaluation (``Feed.evaluate``), its sums
    in the same order: in float64, ``EVAL_BATCH`` samples at a time."""
    accuracy = feed.classification
    per_output = feed.loss_name != CROSS_ENTROPY and feed.data.outputs > 1
    mean = f"loss_sum / {feed.data.outputs} / len(x)" if per_output else "loss_sum / len(x)"
    compared = "targets" if _one_hot(feed) else "labels"
    returns = "tuple[float, float]" if accuracy else "tuple[float, None]"
    lines = [
        f"def evaluate(model: nn.Module, x: Tensor, y: Tensor) -> {returns}:",
        '    """The mean loss ' + ("and the fraction right " if accuracy else "") + "of model "
        "on (x, y), under model.eval()",
        f"    and torch.no_grad(), {EVAL_BATCH} samples at a time (the sums in gradcli's order)."
        + '"""',
        "    model.eval()",
        "    loss_sum, right = 0.0, 0" if accuracy else "    loss_sum = 0.0",
        "    with torch.no_grad():",
        f"        for start in range(0, len(x), {EVAL_BATCH}):",
        f"            outputs = model(x[start : start + {EVAL_BATCH}].to(device))",
        f"            labels = y[start : start + {EVAL_BATCH}].to(device)",
        *([f"            targets = {_targets(feed, 'labels')}"] if _one_hot(feed) else []),
        f"            loss_sum += {_loss(feed, 'outputs', compared, 'sum')}.item()",
    ]
    if accuracy:
        lines.append("            right += (outputs.argmax(dim=1) == labels).sum().item()")
    if per_output:
        lines.append("    # (the mean squared error is a mean over every output, as in training)")
    lines.append(f"    return {mean}, " + ("right / len(x)" if accuracy else "None"))
    return "\n".join(lines) + "\n"


def _module(module: nn.Module) -> str:
    """One layer of a built-in architecture as a person writes it (``nn.Linear(64, 10)``)."""
    if isinstance(module, nn.Linear):
        bias = "" if module.bias is not None else ", bias=False"
        return f"nn.Linear({module.in_features}, {module.out_features}{bias})"
    if isinstance(module, nn.Conv2d):
        (k, k2), (p, p2) = module.kernel_size, module.padding  # type: ignore[misc]
        assert k == k2 and p == p2 and module.stride == (1, 1), module
        padding = f", padding={p}" if p else ""
        return f"nn.Conv2d({module.in_channels}, {module.out_channels}, {k}{padding})"
    if isinstance(module, nn.MaxPool2d):
        assert module.stride == module.kernel_size and not module.padding, module
        return f"nn.MaxPool2d({module.kernel_size})"
    if isinstance(module, nn.ReLU | nn.Flatten):
        return f"nn.{type(module).__name__}()"
    raise GradcliError(f"--print-script: cannot write {module!r} as a script")


def architecture(model: nn.Module) -> list[str]:
    """``model = nn.Sequential(OrderedDict([...]))``: the network gradcli built, layer by
    layer under its names (the parameters' names in the JSON lines), checked to be the
    same network when run."""
    assert isinstance(model, nn.Sequential)
    layers = [(name, _module(module)) for name, module in model.named_children()]
    rebuilt = eval(  # the text, read back: the same layers (torch's repr of each)
        "nn.Sequential(OrderedDict([" + ", ".join(f"({n!r}, {m})" for n, m in layers) + "]))",
        {"nn": nn, "OrderedDict": OrderedDict},
    )
    if repr(rebuilt) != repr(model):
        raise GradcliError("--print-script: the architecture written differs from the one built")
    return [
        "model = nn.Sequential(",
        "    OrderedDict(",
        "        [",
        *(f'            ("{name}", {module}),' for name, module in layers),
        "        ]",
        "    )",
        ")",
    ]


def _threads(model: nn.Module, device: torch.device) -> list[str]:
    """One CPU thread where gradcli takes one (``gradcli/_startup/threads.py``)."""
    if device.type != "cpu" or any(p.numel() > GRAIN for p in model.parameters()):
        return []
    return [
        "# one CPU thread, as gradcli takes for a model this small: split across threads, a",
        "# matrix product sums in another order (and takes longer)",
        "torch.set_num_threads(1)",
    ]


def _split(spec: RunSpec, data: DataSet) -> list[str]:
    """The held-out samples drawn as ``gradcli/data/split.py`` draws them."""
    held = 0 if data.x_val is None else len(data.x_val)
    total = held + len(data.x_train)
    fraction = spec.val_fraction if spec.val_fraction is not None else held / total
    lines = [
        f"# the held-out samples: {held:,} of the {total:,} ({fraction:.0%}, --val-fraction), "
        "drawn with",
        "# their own generator (--data-seed), so --seed never changes them",
        f"drawn = torch.Generator().manual_seed({spec.data_seed})",
        "order = torch.randperm(len(x), generator=drawn)",
    ]
    if held:
        return [
            *lines,
            f"x_val, y_val = x[order[:{held}]], y[order[:{held}]]",
            f"x_train, y_train = x[order[{held}:]], y[order[{held}:]]",
        ]
    return [*lines, "x_train, y_train = x[order], y[order]  # (none held out: all, reordered)"]


def _scaling(data: DataSet) -> list[str]:
    """A table's columns standardised with the training rows' statistics."""
    return [
        "# each input column standardised with the training rows' mean and standard deviation",
        "# (the held-out rows with the same numbers); a constant column stays 0",
        "mean, std = x_train.mean(dim=0), x_train.std(dim=0)",
        "std = torch.where(std > 0, std, torch.ones_like(std))",
        "x_train = (x_train - mean) / std",
        *(["x_val = (x_val - mean) / std"] if data.x_val is not None else []),
    ]


def _in_dtype(data: DataSet, dtype: str) -> list[str]:
    """The inputs (and regression targets) in the run's dtype; labels stay int64."""
    if data.x_val is None:
        lines = [f"x_train = x_train.to({dtype})  # the inputs in the run's dtype (--dtype)"]
    else:
        lines = [
            "# the inputs in the run's dtype (--dtype)"
            + ("; the labels stay int64" if data.task == CLASSIFICATION else ", the targets too"),
            f"x_train, x_val = x_train.to({dtype}), x_val.to({dtype})",
        ]
    if data.task != CLASSIFICATION:
        lines.append(f"y_train = y_train.to({dtype})")
        if data.x_val is not None:
            lines.append(f"y_val = y_val.to({dtype})")
    return lines


def data_code(
    spec: RunSpec,
    feed: Feed,
    model: nn.Module,
    device: torch.device,
    own: ProblemCode | None = None,
) -> DataCode:
    """The reader, the split, the loader and the network of ``spec``'s run, whose set-up
    gradcli made (``feed``, ``model``); ``own``: the lines that import a user's factory."""
    data = feed.data
    read = reader(spec, data)
    dtype = f"torch.{spec.dtype}"
    reading = [
        f'device = "{device}"  # --device',
        *_threads(model, device),
        "",
        f"# the data: {data.name} (--data)",
        *read.lines,
        *([] if read.split else _split(spec, data)),
        *(_scaling(data) if data.scaled else []),
        *_in_dtype(data, dtype),
    ]
    size = spec.batch_size or len(data.x_train)
    shape = "×".join(map(str, data.shape))
    what = f"{data.outputs} classes" if feed.classification else f"{data.outputs} targets"
    factory: list[str] = []
    if own is None:
        network = [
            f"torch.manual_seed({spec.seed})  # the initial parameters (--seed)",
            f"# --model {spec.model}, sized to the data: {shape} inputs, {what}",
            *architecture(model),
            f"model.to(device=device, dtype={dtype})",
        ]
    else:
        factory = [*own.code.rstrip("\n").splitlines(), ""]
        network = [
            f"torch.manual_seed({spec.seed})  # the initial parameters (--seed)",
            f"model = {own.make}",
            f"model.to(device=device, dtype={dtype})",
            *_PROBE,
        ]
    loader = [
        "# the batches: a DataLoader with its own generator, so --data-seed alone orders them",
        "loader = DataLoader(",
        "    TensorDataset(x_train, y_train),",
        f"    batch_size={size},",
        f"    shuffle={spec.shuffle},",
        f"    drop_last={spec.drop_last},",
        f"    generator=torch.Generator().manual_seed({spec.data_seed}),",
        ")",
    ]
    on = "on this batch, at the current parameters"
    targets = _targets(feed, "y_batch")
    forward = Forward(
        ("outputs = model(x_batch)", f"loss = {_loss(feed, 'outputs', targets)}"),
        on,
        _loss(feed, "model(x_batch)", targets),
        depth=8,
        autocast=autocast(spec.amp, device),
        micro=_micro(spec, feed),
    )
    imports = (
        *read.imports,
        "import torch.nn.functional as F",
        "from torch import Tensor",
        "from torch.utils.data import DataLoader, TensorDataset",
        "from torch import nn",
        *(
            ("from collections import OrderedDict",)
            if own is None
            else (*own.imports, "import copy")
        ),
    )
    held = data.x_val is not None
    definitions = read.definitions + ("\n\n" + _evaluate(feed) if held else "")
    definitions = definitions.rstrip("\n") + "\n"
    return DataCode(imports, definitions, reading, factory, network, loader, forward)


def _counted(feed: Feed, loss: str) -> list[str]:
    """The lines that count a batch towards its epoch's training loss (and accuracy), its
    loss ``loss``, after its forward."""
    return [
        f"loss_sum += {loss}.item() * len(y_batch)",
        *(
            ["right += (outputs.argmax(dim=1) == y_batch).sum().item()"]
            if feed.classification
            else []
        ),
        "seen += len(y_batch)",
    ]


def _micro(spec: RunSpec, feed: Feed) -> Micro | None:
    """With ``--accumulate K``: each update's K batches of the loader (``window``), each
    counted towards the epoch's sums as gradcli counts it, after its forward."""
    if spec.accumulate == 1:
        return None
    return Micro(
        spec.accumulate,
        "for x_batch, y_batch in window:",
        ("x_batch, y_batch = x_batch.to(device), y_batch.to(device)",),
        counted=(
            "# the batch counts towards the epoch's training loss"
            + (" and accuracy" if feed.classification else ""),
            *_counted(feed, "micro_loss"),
        ),
        one_batch=(
            "x = torch.cat([x for x, _ in window]).to(device)",
            "y = torch.cat([y for _, y in window]).to(device)",
            f"return {_loss(feed, 'model(x)', _targets(feed, 'y'))}",
        ),
        equal="len({len(y) for _, y in window}) == 1",
    )


def windows(k: int) -> list[str]:
    """``def windows(loader)``: the loader's batches ``k`` at a time (one update's), before
    ``gap_function``'s lines."""
    return [
        "",
        "",
        "def windows(batches: DataLoader) -> Iterator[list[list[Tensor]]]:",
        f'    """The batches {k} at a time: the micro-batches of one update (--accumulate {k}).',
        "    The iteration over the loader runs to its end, as a for loop over it does (a",
        '    shuffling loader draws once more from its generator there)."""',
        "    window = []",
        "    for batch in batches:",
        "        window.append(batch)",
        f"        if len(window) == {k}:",
        "            yield window",
        "            window = []",
    ]


# gradcli.data.models.check_outputs, as a script has it
_PROBE = [
    "# gradcli tries forward(x) on two training samples, on a copy, before training: that",
    "# draws from torch's random numbers if forward(x) does (dropout), so this script does too",
    "copy.deepcopy(model)(x_train[:2].to(device))",
]


def data_loop(
    body: list[str],
    spec: RunSpec,
    feed: Feed,
    path: str,
    keywords: list[str] | None = None,
    optimizers: tuple[str, ...] = ("optimizer",),
    compared: list[str] | None = None,
    stops: bool = False,
    chatty: bool = False,
) -> list[str]:
    """The loop over epochs and their batches around a step's ``body`` (its last line the
    comment of the logging phase; ``keywords``: what its ``log`` call adds), and the end of
    each epoch: its training loss and accuracy as the batches saw them, the held-out ones
    under ``model.eval()`` (``optimizers``: their names, whose schedulers step there).
    ``compared``: in a compare script, the lines that hand each step to the comparison in
    place of the log; the end of an epoch is handed over too (``yield``), and the comparison
    asks for no step past the last. ``stops``: the script stops after a step that diverged;
    ``chatty``: the lines go to ``data_out``, stdout (a user's model's prints to stderr)."""
    schedulers, groups = renamed(optimizers, "scheduler"), renamed(optimizers, "group")
    partial = spec.steps % feed.batches != 0 and compared is None
    accuracy = feed.classification
    held = feed.data.x_val is not None
    arguments = ["step", "loss.item()", "grads", "before", "epoch", "batch", *(keywords or [])]
    logged = log_step(spec, arguments, 8, stops) if compared is None else compared
    k = spec.accumulate
    if k == 1:
        inner = [
            "step += 1",
            "x_batch, y_batch = x_batch.to(device), y_batch.to(device)",
            *body[:-1],
            *_comment(
                f"{body[-1].removeprefix('# ')}: the step; the batch counts towards the epoch's "
                "training loss" + (" and accuracy" if accuracy else ""),
                8 if compared is None else 12,  # (a compare script's: in a generator)
            ),
            *_counted(feed, "loss"),
        ]
        batches = "for batch, (x_batch, y_batch) in enumerate(loader, start=1):"
    else:  # (each micro-batch counted after its forward)
        inner = ["step += 1", *body]
        batches = "for batch, window in enumerate(windows(loader), start=1):"
    resumed = spec.resume is not None  # (where it ends: known when the checkpoint is read)
    partial = partial or resumed
    inner += [*logged, *(_ENDS_INSIDE if partial else [])]
    if resumed:
        inner = [
            "if epoch == resumed_epoch and batch <= taken:",
            "    continue  # (the checkpoint's run took it)",
            *inner,
        ]
    sums = "loss_sum, right, seen = 0.0, 0, 0" if accuracy else "loss_sum, seen = 0.0, 0"
    val = (
        ["val_loss, val_accuracy = evaluate(model, x_val, y_val)"]
        if held
        else ["val_loss, val_accuracy = None, None  # (no held-out samples)"]
    )
    if spec.schedule_spec is not None and spec.schedule_per == "epoch":
        needs = spec.schedule_spec.scheduler.needs_loss  # ReduceLROnPlateau: a loss
        fed = "val_loss" if held else "loss_sum / seen"
        if needs and spec.save is not None:  # (the checkpoint holds every loss it was fed)
            val, fed = [*val, f"fed.append({fed})  # (for --save)"], "fed[-1]"
        val += [
            "# --schedule-per epoch: scheduler.step() once an epoch"
            + (f", fed the {'held-out' if held else 'training'} loss" if needs else ""),
            *(f"{s}.step({fed})" if needs else f"{s}.step()" for s in schedulers),
        ]
    moved = f'{groups[0]}["lr"]' if path != "optim" else f'{optimizers[0]}.param_groups[0]["lr"]'
    ended = [
        f"if batch < {'len(loader)' if k == 1 else f'len(loader) // {k}'}:  # (it ended inside "
        "this epoch)",
        "    break",
    ]
    if resumed:
        ended += [
            "if step == start:  # (the checkpoint's epoch had ended: its end was printed then)",
            "    continue",
        ]
    end = [
        *(ended if partial else []),
        "# the end of an epoch: its training loss and accuracy as the batches saw them (each",
        "# before its update), the held-out data's at the parameters now",
        *val,
        "line = {",
        '    "epoch_end": epoch,',
        '    "step": step,',
        f'    "lr": {moved},  # (the next step\'s: the schedule moved it)'
        if spec.schedule
        else '    "lr": lr,',
        '    "train_loss": loss_sum / seen,',
        f'    "train_accuracy": {"right / seen" if accuracy else "None"},',
        '    "val_loss": val_loss,',
        '    "val_accuracy": val_accuracy,',
        "}",
        (
            f'print(json.dumps(line, separators=(",", ":")){", file=data_out" if chatty else ""})'
            if compared is None
            else "yield line"
        ),
    ]
    sums = f"    {sums}  # the epoch's training loss" + (" and accuracy" if accuracy else "")
    return [
        "",
        *(
            []
            if resumed or compared is not None
            else ["log(0, None, [None] * len(params), [None] * len(params))"]
        ),
        "step = start" if resumed else "step = 0",
        f"for epoch in range({'resumed_epoch' if resumed else '1'}, epochs + 1):",
        "    model.train()",
        *(
            ["    epoch_state = loader.generator.get_state()  # (--save: where its batches begin)"]
            if spec.save is not None
            else []
        ),
        *(
            [
                "    if epoch > resumed_epoch:  # (the checkpoint's epoch goes on with its sums)",
                "    " + sums,
            ]
            if resumed
            else [sums]
        ),
        f"    {batches}",
        *("        " + line if line else "" for line in inner),
        *("    " + line if line else "" for line in end),
    ]


_ENDS_INSIDE = ["if step == steps:  # --steps ends the run inside this epoch", "    break"]


def counts(spec: RunSpec, feed: Feed) -> list[str]:
    """``epochs`` and ``steps`` as the set-up states them."""
    batches = feed.batches
    epochs = math.ceil(spec.steps / batches)
    if spec.steps % batches == 0:
        return [
            f"epochs = {epochs}",
            f"steps = {spec.steps}  # {epochs} epoch{'s' * (epochs != 1)} of {batches} batches",
        ]
    return [
        f"epochs = {epochs}  # the last one cut short",
        f"steps = {spec.steps}  # (--steps; {batches} batches an epoch)",
    ]
