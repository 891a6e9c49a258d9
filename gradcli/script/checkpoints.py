"""``--save`` and ``--resume`` in a script: it writes a checkpoint that ``gradcli --resume``
takes (the format of ``gradcli/train/checkpoint.py``: the model's state_dict, each trained
parameter's optimizer state by its index, the step, the RNG state, the run's configuration),
and loads one gradcli wrote, as ``gradcli.train.setup.prepare`` does, to go on from its step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from gradcli.script.extras import number
from gradcli.script.literals import LINE_LENGTH, call, literal
from gradcli.spec import RunSpec
from gradcli.train.checkpoint import FORMAT, VERSION


def value(given: Any) -> str:
    """A configuration value as source (dicts, tuples and lists inside, ``math.inf`` for inf)."""
    if isinstance(given, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {value(v)}" for k, v in given.items()) + "}"
    if isinstance(given, tuple):
        return "(" + ", ".join(value(v) for v in given) + ("," if len(given) == 1 else "") + ")"
    if isinstance(given, list):
        return "[" + ", ".join(value(v) for v in given) + "]"
    if isinstance(given, float):
        return number(given)
    return literal(given)


def state_of(path: str, optimizers: int = 1) -> str:
    """The expression of one parameter ``p``'s optimizer state on ``path`` (with two
    optimizers, torch.optim's: ``optimizer_state``, ``extras.state_of_two``)."""
    if path != "optim":
        return "states[p]"
    return "optimizer.state[p]" if optimizers == 1 else "optimizer_state(p)"


def save_lines(
    spec: RunSpec,
    path: str,
    fed: bool,
    optimizers: int = 1,
    accuracy: bool = True,
    more: Sequence[str] = (),
) -> list[str]:
    """The end of the script: the checkpoint, written as gradcli writes one (``fed``: with
    the losses ReduceLROnPlateau was fed; ``optimizers``: how many the run has; with
    ``--data``, where the DataLoader is, ``accuracy``: its sums count the right answers;
    ``more``: lines that add to it before it is saved, --amp fp16's scaler state)."""
    assert spec.save is not None
    config = []
    for k, v in asdict(spec).items():
        line = f"    {json.dumps(k)}: {value(v)},"
        if isinstance(v, str) and 4 + len(line) > LINE_LENGTH:  # (in pieces that fit a line)
            pieces = [json.dumps(v[i : i + 70]) for i in range(0, len(v), 70)]
            pieces = [pieces[0], *(f"+ {piece}" for piece in pieces[1:])]
            config += [f"    {json.dumps(k)}: (", *(f"        {x}" for x in pieces), "    ),"]
        else:
            config.append(line)
    return [
        "",
        f"# --save: a checkpoint gradcli --resume takes ({FORMAT}, version {VERSION})",
        'rng = {"torch": torch.get_rng_state()}',
        "if torch.cuda.is_available() and torch.cuda.is_initialized():",
        '    rng["cuda"] = torch.cuda.get_rng_state_all()',
        "# the optimizer state of each parameter that has one, by the parameter's index",
        "update_state = {}",
        "for i, p in enumerate(params):",
        f"    if {state_of(path, optimizers)}:",
        f"        update_state[i] = dict({state_of(path, optimizers)})",
        "checkpoint = {",
        f'    "format": "{FORMAT}",',
        f'    "version": {VERSION},',
        '    "step": steps,',
        '    "model": model.state_dict(),',
        '    "update_state": update_state,',
        '    "rng": rng,',
        '    "config": {  # the run\'s options, which gradcli --resume checks',
        *("    " + line for line in config),
        "    },",
        '    "end": steps,',
        *(_feed(accuracy) if spec.data is not None else []),
        "}",
        *(
            [
                "if fed:  # the losses ReduceLROnPlateau was fed",
                '    checkpoint["schedule_losses"] = fed',
            ]
            if fed
            else []
        ),
        *more,
        *call("torch.save", ["checkpoint", json.dumps(spec.save)], 0),
    ]


def _feed(accuracy: bool) -> list[str]:
    """Where the script's DataLoader is, as gradcli's feed keeps it (``Feed.state_dict``)."""
    sums = "loss_sum, right, seen" if accuracy else "loss_sum, 0.0, seen"
    return [
        '    "feed": {  # where the DataLoader is: its epoch, the batches of it taken, its',
        "        # generator as the epoch began, and the epoch's sums (loss·n, right, n) so far",
        '        "epoch": epoch,',
        '        "batch": batch,',
        '        "generator": epoch_state,',
        f'        "sums": torch.tensor([{sums}], dtype=torch.float64),',
        "    },",
    ]


def loader_lines(feed_batches: int, accuracy: bool) -> list[str]:
    """After a checkpoint is loaded (``resume_lines``), with ``--data``: the DataLoader put
    where the checkpoint's run left it, as ``gradcli.data.feed.Feed.load_state_dict`` puts
    it (``feed_batches``: the updates of an epoch)."""
    sums = "loss_sum, right, seen" if accuracy else "loss_sum, _, seen"
    return [
        "# the DataLoader where the checkpoint's run left it: in its epoch, the loader's",
        "# generator as that epoch began (the same batches follow), the batches it took (the",
        "# loop skips them) and the epoch's sums so far",
        'where = checkpoint["feed"]',
        'loader.generator.set_state(where["generator"])',
        'resumed_epoch = max(where["epoch"], 1)  # (epoch 0: none begun)',
        'taken = where["batch"] if where["epoch"] else 0',
        f'{sums} = where["sums"].tolist()',
        f"epochs = math.ceil(steps / {feed_batches})  # (the last epoch, counting from the first)",
    ]


def resume_lines(
    spec: RunSpec, path: str, replay: list[str], optimizers: Sequence[str] = ("optimizer",)
) -> list[str]:
    """After the set-up: the checkpoint loaded as gradcli loads it, and the schedule's steps
    replayed (``replay``: the lines that do it, where there is a schedule)."""
    assert spec.resume is not None
    if path == "optim" and len(optimizers) > 1:
        state = [
            "# each optimizer's state by index among its own parameters, as torch.optim's",
            "# state_dict() keeps it (the checkpoint's indices are among all of them)",
            "index = {p: i for i, p in enumerate(params)}",
            f"for optimizer in ({', '.join(optimizers)}):",
            '    mine = [index[p] for p in optimizer.param_groups[0]["params"]]',
            "    saved = optimizer.state_dict()",
            '    update_state = checkpoint["update_state"]',
            '    saved["state"] = {'
            "i: update_state[j] for i, j in enumerate(mine) if j in update_state}",
            "    optimizer.load_state_dict(saved)",
        ]
    elif path == "optim":
        state = [
            "# the optimizer's state by index, as torch.optim's state_dict() keeps it",
            "saved = optimizer.state_dict()",
            'saved["state"] = checkpoint["update_state"]',
            "optimizer.load_state_dict(saved)",
        ]
    else:
        state = [
            "# each parameter's state, on its device and (floating point) in its dtype",
            'for i, values in checkpoint["update_state"].items():',
            "    p = params[i]",
            '    states[p] = {k: v if k == "step" else _like(v, p) for k, v in values.items()}',
        ]
    return [
        "# --resume: go on from the checkpoint gradcli wrote, loaded as gradcli loads it",
        *call(
            "checkpoint = torch.load",
            [json.dumps(spec.resume), 'map_location="cpu"', "weights_only=True"],
            0,
        ),
        'model.load_state_dict(checkpoint["model"])',
        *state,
        'torch.set_rng_state(checkpoint["rng"]["torch"])',
        'if "cuda" in checkpoint["rng"] and torch.cuda.is_available():',
        '    torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])',
        'start = checkpoint["step"]',
        "steps += start  # (the last step)",
        *replay,
    ]
