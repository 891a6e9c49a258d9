"""``--show-code``: the training loop a run executes, written out as the Python it runs.

Each path is shown with this run's numbers filled in: ``optim`` as the four lines of
``torch.optim``, ``manual`` as the hand-written loop (the update under ``torch.no_grad()``,
the gradients dropped by ``p.grad = None``) followed by the source of the rule it calls and
of the gradcli helpers that rule calls, read from their modules by
``gradcli.script.source`` (as ``--print-script`` reads them), so what is shown is what runs.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from gradcli import optimizers
from gradcli.data.feed import CROSS_ENTROPY, Feed
from gradcli.optimizers.catalog import plain
from gradcli.records import RunInfo
from gradcli.script.source import gather
from gradcli.train.loss_scaling import HandScaler
from gradcli.train.precision import AMP_DTYPES
from gradcli.train.updates import ManualUpdate, OptimUpdate

# the methods of HandScaler the manual path calls in a step (as gradcli's loop calls them)
_HAND_SCALER_CALLS = ("scale", "unscale_", "skips", "update")
# --accumulate K, and the names of the problem's data buffers (with --data: none)
Micro = tuple[int, tuple[str, ...]]
_UPDATE = "scaler.update()  # S halved after a skipped step, doubled after growth_interval"


class Listed(NamedTuple):
    """What a listing shows besides the update: the model, the steps, the data (``--data``),
    ``--amp``, the device's type and the micro-batches (``--accumulate``)."""

    model: str
    steps: int
    feed: Feed | None
    amp: str | None
    device: str
    micro: Micro


def _keywords(lr: float, hyperparameters: dict[str, object]) -> str:
    return ", ".join([f"lr={lr:g}", *(f"{k}={plain(v)}" for k, v in hyperparameters.items())])


def _wrapped(line: str, indent: int) -> list[str]:
    """A long call broken between its arguments, the rest indented by ``indent``."""
    return textwrap.wrap(
        line, 88, subsequent_indent=" " * indent, break_long_words=False, break_on_hyphens=False
    )


def _model(model: str, feed: Feed | None = None) -> str:
    if ":" in model:
        return f"model = {model.rpartition(':')[2]}()  # --model {model}"
    if feed is not None:
        return f"model = gradcli.data.models.architecture({model!r}, data)  # forward(x): outputs"
    return f"model = gradcli.problems.build({model!r})  # forward() returns the loss"


def _forward(feed: Feed | None, x: str = "x", y: str = "y") -> str:
    """The loss: the problem's own, or the task's on the batch ``x, y``."""
    if feed is None:
        return "model()"
    if feed.loss_name == CROSS_ENTROPY:
        return f"F.cross_entropy(model({x}), {y})"
    if feed.classification:
        return f"F.mse_loss(model({x}), F.one_hot({y}, {feed.data.outputs}).float())"
    return f"F.mse_loss(model({x}), {y})"


def _forward_lines(feed: Feed | None, amp: str | None, device: str) -> list[str]:
    """``loss = ...  # forward``; with ``--amp``, under ``torch.autocast`` (the backward
    outside it), as ``gradcli.train.precision.autocast`` runs it on the run's device."""
    forward = f"loss = {_forward(feed)}  # forward"
    if amp is None:
        return [forward]
    autocast = f'torch.autocast(device_type="{device}", dtype={AMP_DTYPES[amp]})'
    return [f"with {autocast}:  # --amp {amp}", f"    {forward}"]


def _backward(scaled: bool, k: int = 1) -> str:
    """``loss.backward()``; with ``--amp fp16``, of the loss times the scaler's S; with
    ``--accumulate K``, of the micro-batch's share, loss/K (``.grad`` adds them up)."""
    if scaled and k == 1:
        return "scaler.scale(loss).backward()  # loss·S: autograd fills p.grad with S·g"
    if scaled:
        return f"scaler.scale(loss / {k}).backward()  # (loss/{k})·S: autograd adds to p.grad"
    if k > 1:
        return f"(loss / {k}).backward()  # its share of the mean: autograd adds it to p.grad"
    return "loss.backward()  # autograd fills p.grad"


def _passes(
    feed: Feed | None, amp: str | None, device: str, scaled: bool, micro: Micro
) -> list[str]:
    """The forward and the backward of a step; with ``--accumulate K``, of K micro-batches
    (``gradcli.train.accumulation.accumulate``): the loader's next K batches with
    ``--data``, else K equal slices of the problem's data, put where ``forward()`` reads it."""
    k, names = micro
    passes = [*_forward_lines(feed, amp, device), _backward(scaled, k)]
    if k == 1:
        return passes
    if feed is not None:
        take = ["    x, y = next(batches)  # the loader's next batch: micro-batch i"]
        return [f"for i in range({k}):  # --accumulate {k}", *take, *(f"    {p}" for p in passes)]
    held = ", ".join(f"model.{name}" for name in names)
    sliced = ", ".join(f'data["{name}"].chunk({k})[i]' for name in names)
    whole = ", ".join(f'data["{name}"]' for name in names)
    return [
        f"for i in range({k}):  # --accumulate {k}: slice i of the problem's samples",
        *_wrapped(f"    {held} = {sliced}", 8),
        *(f"    {p}" for p in passes),
        f"{held} = {whole}  # the samples whole again",
    ]


def _micro_setup(micro: Micro, feed: Feed | None) -> list[str]:
    """Before the loop, with ``--accumulate K`` on a problem's own data: its samples."""
    k, names = micro
    if k == 1 or feed is not None:
        return []
    held = ", ".join(f'"{name}"' for name in names)
    return [f"data = {{name: getattr(model, name) for name in [{held}]}}  # the samples"]


def _scaler_line(update: ManualUpdate | OptimUpdate, device: str) -> list[str]:
    """With ``--amp fp16``: the gradient scaler, as gradcli makes it (torch's on the optim
    path, ``HandScaler`` on the manual), at the run's S₀ and growth interval."""
    if update.scaler is None:
        return []
    state = update.scaler_state()
    keywords = f"init_scale={state['scale']:g}, growth_interval={state['growth_interval']}"
    if isinstance(update, ManualUpdate):
        return [f"scaler = HandScaler({keywords})  # --amp fp16: GradScaler by hand"]
    return [f'scaler = torch.amp.GradScaler("{device}", {keywords})  # --amp fp16']


def _loop(body: list[str], steps: int, feed: Feed | None, k: int = 1) -> list[str]:
    """``body`` run ``steps`` times: in a plain loop, or over the batches of ``feed``'s
    DataLoader, epoch by epoch (with ``--accumulate K``, K batches a step), with the
    held-out data evaluated after each epoch."""
    if feed is None:
        return [f"for step in range(1, {steps + 1}):", *(f"    {b}" if b else "" for b in body)]
    loader = feed.loader
    batches = (
        ["    for x, y in loader:"]
        if k == 1
        else [
            "    batches = iter(loader)",
            f"    for update in range({feed.batches}):  # {k} of its batches each",
        ]
    )
    epochs = -(-steps // feed.batches) if feed.batches else 0
    stop = (
        []
        if steps == epochs * feed.batches
        else [f"        if step == {steps}:", "            break  # --steps ends mid-epoch"]
    )
    data_seed = feed.data_seed
    return [
        "loader = DataLoader(",
        "    TensorDataset(x_train, y_train),",
        f"    batch_size={loader.batch_size},",
        f"    shuffle={feed.shuffle},",
        f"    drop_last={loader.drop_last},",
        f"    generator=torch.Generator().manual_seed({data_seed}),  # --data-seed",
        ")",
        "step = 0",
        f"for epoch in range(1, {epochs + 1}):",
        "    model.train()",
        *batches,
        "        step += 1",
        *(f"        {b}" if b else "" for b in body),
        *stop,
        *(
            []
            if feed.data.x_val is None
            else [
                "    model.eval()  # dropout off, batch norm frozen",
                "    with torch.no_grad():  # no graph kept",
                f"        val_loss = {_forward(feed, 'x_val', 'y_val')}",
            ]
        ),
    ]


def optim_listing(update: OptimUpdate, run: Listed) -> str:
    model, steps, feed, amp, device, micro = run
    lines = [_model(model, feed)]
    names: list[str] = []
    for optimizer in update.optimizers:
        (group,) = optimizer.param_groups
        described = next(
            o for o in optimizers.catalog().values() if o.torch_class == type(optimizer).__name__
        )
        keys = [h.name for h in described.hyperparameters]
        keys += [k for k in ("foreach", "fused") if group.get(k) is not None]  # --impl
        settings = {k: group[k] for k in keys if k in group}
        lr = group["lr"]
        params, name = "model.parameters()", "optimizer"
        if len(update.optimizers) > 1:  # (Muon: the matrices; the others go to AdamW)
            params, name = f"{described.name}_params", f"{described.name}_optimizer"
            lines.append(f"# {params}: the parameters {described.name} trains")
            names.append(name)
        lines += _wrapped(
            f"{name} = torch.optim.{type(optimizer).__name__}({params}, {_keywords(lr, settings)})",
            4,
        )
    if names:  # one optimizer per part, each stepped in turn
        lines.append(f"optimizers = [{', '.join(names)}]")
    lines += [*_scaler_line(update, device), *_micro_setup(micro, feed)]
    if update.closure:
        body = [
            "def closure():  # the optimizer evaluates the loss itself, several times",
            "    optimizer.zero_grad()",
            *(f"    {line}" for line in _forward_lines(feed, amp, device)),
            "    loss.backward()",
            "    return loss",
            "",
            "loss = optimizer.step(closure)",
        ]
    elif update.scaler is not None:
        each = "for optimizer in optimizers: " if names else ""
        body = [
            "optimizer.zero_grad()  # the gradients set to None",
            *_passes(feed, amp, device, True, micro),
            f"{each}scaler.unscale_(optimizer)  # g ← (S·g)·(1/S): an inf or a NaN?",
            f"{each}scaler.step(optimizer)  # the update, skipped if there was one",
            _UPDATE,
        ]
    else:
        body = [
            "optimizer.zero_grad()  # the gradients set to None",
            *_passes(feed, amp, device, False, micro),
            "optimizer.step()  # the update, in place",
        ]
    if names:
        body = [
            line.replace("optimizer.", "for optimizer in optimizers: optimizer.", 1)
            for line in body
        ]
    return "\n".join(lines + _loop(body, steps, feed, micro[0])) + "\n"


def manual_listing(update: ManualUpdate, run: Listed) -> str:
    model, steps, feed, amp, device, micro = run
    lines = [
        _model(model, feed),
        "state = {p: {} for p in model.parameters()}  # torch.optim's keys, made on first use",
        *_scaler_line(update, device),
        *_micro_setup(micro, feed),
    ]
    scaled = update.scaler is not None
    body = _passes(feed, amp, device, scaled, micro)
    if update.closure:
        body += [
            "",
            "def closure():  # the rule evaluates the loss itself, several times",
            "    with torch.enable_grad():",
            "        for p in model.parameters():",
            "            p.grad = None",
            *(f"        {line}" for line in _forward_lines(feed, amp, device)),
            "        loss.backward()",
            "    return loss",
            "",
        ]
    body.append("with torch.no_grad():  # the update is not part of the graph")
    rules: list[Callable[..., Any]] = []
    for i, ((part, described, hyperparameters), rule) in enumerate(
        zip(update.parts, update.rules, strict=True)
    ):
        kept = "model.parameters()"
        if len(update.parts) > 1:  # (Muon: the matrices; the others go to AdamW)
            kept = f"{described.name}_params"
            body.append(f"    # {kept}: the {len(part)} parameters {described.name} trains")
            if described.takes is not None:  # (which: the function below says)
                rules.append(described.takes)
        if update.closure:
            call = f"{rule.__name__}(params, grads, states, closure=closure, "
        else:
            call = f"{rule.__name__}(params, grads, states, "
        indent = "        " if scaled else "    "  # (with --amp fp16: unless skipped)
        body += [
            f"    params = [p for p in {kept} if p.grad is not None]",
            "    grads, states = [p.grad for p in params], [state[p] for p in params]",
            *(
                [
                    f"    scaler.unscale_({i}, grads)  # g ← (S·g)·(1/S): an inf or a NaN?",
                    f"    if not scaler.skips({i}):  # scaler.step(): the update, unless there"
                    " was one",
                ]
                if scaled
                else []
            ),
            *_wrapped(f"{indent}{call}{_keywords(update.lr, hyperparameters)})", len(indent) + 4),
        ]
        rules.append(rule)
    if scaled:
        body.append(_UPDATE)
    body += [
        "for p in model.parameters():",
        "    p.grad = None  # what optimizer.zero_grad() does",
    ]
    lines += _loop(body, steps, feed, micro[0])
    called = ((HandScaler, _HAND_SCALER_CALLS),) if scaled else ()
    for definition in gather(*dict.fromkeys(rules), called=called).definitions:
        lines += ["", "", f"# {definition.name}, from {definition.where}:"]
        lines.append(definition.code.rstrip("\n"))
    return "\n".join(lines).rstrip("\n") + "\n"


def listing(
    update: ManualUpdate | OptimUpdate,
    model: str,
    steps: int,
    feed: Feed | None = None,
    amp: str | None = None,
    info: RunInfo | None = None,
    micro: Micro = (1, ()),
) -> str:
    """The loop ``update``'s path runs, for ``steps`` steps of ``model`` (with ``--data``,
    on the batches of ``feed``; with ``--amp``, the forward under autocast on the run's
    device, ``info.device``, and with fp16 the gradient scaler's calls; with ``micro``,
    ``(K, the problem's data buffers)``, K micro-batches a step)."""
    device = "cpu" if info is None else torch.device(info.device).type
    run = Listed(model, steps, feed, amp, device, micro)
    if isinstance(update, ManualUpdate):
        return manual_listing(update, run)
    return optim_listing(update, run)
