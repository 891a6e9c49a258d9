"""``gradcli ddp --print-script``: the run as a plain PyTorch script to start with
``torchrun --nproc-per-node N``, which prints on rank 0 what ``gradcli ddp`` prints, byte for
byte (on the CPU, with gloo).

A rank of ``gradcli ddp`` runs the loop of ``optim`` (``--path ddp``) or ``manual``
(``--path manual``) on its shard with a few lines added (``gradcli/ddp/worker.py``), and so
does its script: it is that path's script (``program.py``, which writes the problem, the
JSON lines, the rule and the loop), with the lines a rank adds put in at their places —

- the process group joined, and this rank's contiguous share of the data kept;
- ``--path ddp``: the loss through ``DistributedDataParallel``, which averages the gradients
  in ``backward()``, and this rank's own gradient from a second backward of the model itself;
- ``--path manual``: after ``backward()``, this rank's own gradient kept, then
  ``dist.all_reduce(grad, SUM)`` and ``grad /= world``, by hand;
- in the log, every rank's loss, gradient and parameters gathered on rank 0, which alone
  prints, and the run's end, the group left.

Each place is found by a line of the path's script that must be there (``_at``): a change
to ``program.py`` that moves one fails here, loudly, never in a script.
"""

from __future__ import annotations

import inspect
import json
import textwrap

from gradcli.ddp.options import DdpOptions
from gradcli.errors import GradcliError
from gradcli.script import print_script
from gradcli.script.extras import log_step
from gradcli.script.program import _command, import_lines
from gradcli.spec import RunSpec

# the lines of a path's script the rank's lines go beside
_SEED = "torch.manual_seed("
_PARAMS = "params = list(model.parameters())"
_FORWARD = "    loss = model()"
_BACKWARD = "    loss.backward()"
_PRINT = '    print(json.dumps(line, separators=(",", ":")))'
_FED = "    scheduler.step(loss.item())"


def refusal(spec: RunSpec, options: DdpOptions) -> str | None:
    """Why ``gradcli ddp``'s run cannot be printed as a script, if it cannot."""
    why = {
        "--data": "a script shards a problem's own data; --data's DistributedSampler loop "
        "is not written out yet",
        "--accumulate": "a script does not write --accumulate's micro-batches yet",
        "--device": "a script runs on the CPU with gloo; leave out --device or give cpu",
        "--format": "a script prints JSON lines",
        "--plot-file": "a script draws no figure; leave --plot-file out",
    }
    given = {
        "--data": spec.data is not None,
        "--accumulate": spec.accumulate > 1,
        "--device": spec.device != "cpu",
        "--format": spec.format not in ("auto", "jsonl"),
        "--plot-file": options.plot_file is not None,
    }
    for option, wrong in given.items():
        if wrong:
            return f"--print-script: {why[option]} ({option} {_value(spec, options, option)})"
    return None


def _value(spec: RunSpec, options: DdpOptions, option: str) -> str:
    if option == "--plot-file":
        return str(options.plot_file)
    return str(getattr(spec, option.removeprefix("--")))


def ddp_script(spec: RunSpec, options: DdpOptions, world: int) -> str:
    """The script of ``spec`` under ``gradcli ddp --path options.path``, for ``world``
    processes (what the docstring says to start; it runs on any number that divides the
    data evenly)."""
    wrong = refusal(spec, options)
    if wrong is not None:
        raise GradcliError(wrong)
    path = "optim" if options.path == "ddp" else "manual"
    spec = spec.with_every()
    text = print_script(spec, path)
    lines = text.splitlines()
    own_model = ":" in spec.model
    by_ddp = options.path == "ddp"

    # the docstring: the gradcli ddp command, and how to start the script
    end = lines.index('"""', 1)
    lines[: end + 1] = _docstring(spec, options, world, lines)
    # the imports: torch.distributed, and DDP's class
    first = next(i for i, line in enumerate(lines) if line.startswith(("import ", "from ")))
    last = first
    while last < len(lines) and (lines[last].startswith(("import ", "from ")) or not lines[last]):
        last += 1
    imported = [line for line in lines[first:last] if line]
    imported.append("import torch.distributed as dist")
    if by_ddp:
        imported.append("from torch.nn.parallel import DistributedDataParallel")
    lines[first:last] = [*import_lines(imported), ""]

    # the log: every rank's part gathered, and rank 0 prints
    at = _at(lines, _PRINT)
    lines[at : at + 1] = _RANKS
    lines[at + len(_RANKS) : at + len(_RANKS)] = ["", "", *_GATHER.splitlines()]

    # the set-up: the process group first, then the model, wrapped, and its shard
    at = _at(lines, _SEED, start=True)
    lines[at:at] = _JOIN
    at = _at(lines, _PARAMS)
    lines[at:at] = [*(_wrap() if by_ddp else []), *_shard(spec, own_model)]
    at = _at(lines, _PARAMS)
    lines.insert(at + 1, "own = []  # this rank's own gradient of the step (the log shows it)")

    # the loop: the forward (through DDP), and the rank's lines after backward()
    at = _at(lines, _FORWARD)
    phase, said, _ = lines[at - 1].partition("forward: ")  # "    # 2. ", the phase's number
    assert said and phase.startswith("    # "), lines[at - 1]
    if by_ddp:
        lines[at - 1 : at + 1] = [
            f"{phase}forward: the loss of this rank's shard, through DDP (which averages",
            "    # the gradients across the ranks in backward())",
            "    loss = ddp_model()",
        ]
    else:
        lines[at - 1] = f"{phase}forward: the loss of this rank's shard at the current parameters"
    at = _at(lines, _BACKWARD)
    own = _OWN_BY_DDP if by_ddp else _BY_HAND
    if by_ddp and spec.every > 1:  # (only the steps logged)
        test = log_step(spec, [], 0)[0]
        own = [own[0], own[1], test, *("    " + line for line in own[2:])]
    lines[at + 1 : at + 1] = ["    " + line for line in own]
    if _FED in lines:  # ReduceLROnPlateau: one lr for all, from the mean loss over the ranks
        at = lines.index(_FED)
        assert lines[at - 1].startswith("    # the schedule"), lines[at - 1]
        lines[at - 1 : at + 1] = [
            lines[at - 1] + " (fed the mean loss over the ranks)",
            "    scheduler.step(mean_over_ranks(loss.item()))",
        ]
        at = lines.index(_GATHER.splitlines()[-1])
        lines[at + 1 : at + 1] = ["", "", *_MEAN.splitlines()]
    lines += ["", "dist.destroy_process_group()  # (torchrun's processes leave the group)"]
    return "\n".join(lines) + "\n"


def _at(lines: list[str], line: str, start: bool = False) -> int:
    """The index of ``line`` in ``lines`` (with ``start``: of the first line that starts
    with it). A path's script without it is a bug here, not a user's mistake."""
    for index, text in enumerate(lines):
        if text == line or (start and text.startswith(line)):
            return index
    raise AssertionError(f"the path's script has no line {line!r}")


def _docstring(spec: RunSpec, options: DdpOptions, world: int, lines: list[str]) -> list[str]:
    path = "optim" if options.path == "ddp" else "manual"
    command = _command(spec, path, 0.0 if spec.lr is None else spec.lr)
    command = command.replace(
        f"gradcli {path}", f"gradcli ddp --nproc {world} --path {options.path}", 1
    ).replace(" --device cpu", "", 1)  # (ddp's default, and a script's only device)
    averaged = (
        "DistributedDataParallel averages the gradients across the processes in backward(), "
        "and torch.optim steps"
        if options.path == "ddp"
        else "the gradients are averaged across the processes by hand (dist.all_reduce, then "
        "divided by their number), and the hand-written rule steps"
    )
    wrapped = textwrap.wrap(
        command, 92, initial_indent="    ", subsequent_indent="        ", break_on_hyphens=False
    )
    return [
        '"""This gradcli ddp run as a plain PyTorch script:',
        "",
        *wrapped,
        "",
        "Saved as script.py, start it as gradcli starts its workers, on the CPU (gloo):",
        "",
        f"    torchrun --nproc-per-node {world} script.py",
        "",
        *textwrap.wrap(
            "Each process trains on its contiguous share of the data; "
            f"{averaged}. Rank 0 prints one JSON line per step, the same as gradcli ddp's "
            "with --format jsonl: the loss and the gradients before each update, every "
            "parameter after it and the change it made, and every rank's own loss and "
            "gradient and how far the ranks' parameters differ.",
            92,
            break_on_hyphens=False,
        ),
        '"""',
    ]


_JOIN = [
    "# torchrun started this process as one rank of several: join them (gloo, on the CPU)",
    'dist.init_process_group("gloo")',
    "rank, world = dist.get_rank(), dist.get_world_size()",
]


def _wrap() -> list[str]:
    """DDP's wrapper of the model, told not to broadcast rank 0's buffers (the data) over
    the others' (``forward_sync_buffers``; ``broadcast_buffers`` before torch 2.11)."""
    from torch.nn.parallel import DistributedDataParallel

    takes = inspect.signature(DistributedDataParallel.__init__).parameters
    keyword = "forward_sync_buffers" if "forward_sync_buffers" in takes else "broadcast_buffers"
    return [
        "# DistributedDataParallel: the data are buffers that differ by rank, so DDP must not",
        "# broadcast rank 0's over them before each forward, and the shard is taken after",
        "# wrapping (DDP broadcasts the buffers once, when it is built)",
        f"ddp_model = DistributedDataParallel(model, {keyword}=False)",
    ]


def _shard(spec: RunSpec, own_model: bool) -> list[str]:
    """This rank's contiguous, equal share of the data: a built-in's data buffers cut as
    ``DataProblem.shard`` cuts them; a model of your own cuts itself (its ``shard()``)."""
    if own_model:
        return [
            "# this rank's share of the data, as your model cuts it",
            "model.shard(rank, world)",
        ]
    from gradcli.problems import BUILTINS

    names = BUILTINS[spec.model].data_buffers  # type: ignore[attr-defined]
    return [
        "# this rank's contiguous share of the data (equal shares: the mean of the ranks'",
        "# mean losses is the full batch's mean loss)",
        f"for name in ({', '.join(json.dumps(n) for n in names)}{',' * (len(names) == 1)}):",
        "    setattr(model, name, getattr(model, name).chunk(world)[rank].clone())",
    ]


_OWN_SHARD = "model.shard(rank, world)"
_BY_HAND = [
    "# average the gradients by hand: keep this rank's own (the log shows it), then sum",
    "# them over the ranks and divide by their number",
    "own = [p.grad.detach().clone() for p in params]",
    "for p in params:",
    "    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)",
    "    p.grad.div_(world)",
]
_OWN_BY_DDP = [
    "# DDP has averaged the gradients; this rank's own, which the log shows, from a second",
    "# backward of the model itself (not DDP's wrapper) on this rank's shard",
    "own = [g.detach() for g in torch.autograd.grad(model(), params)]",
]

_RANKS = """\
    # every rank's loss, own gradient and parameters, on rank 0, which alone prints
    everyone = gather(step, loss)
    if rank == 0:
        count = sum(p.numel() for p in params)
        ranks = []
        for r, mine in enumerate(everyone if step > 0 else []):
            own_grads = mine[1 : 1 + count].split([p.numel() for p in params])
            named = zip(model.named_parameters(), own_grads, strict=True)
            ranks.append(
                {
                    "rank": r,
                    "loss": mine[0].item(),
                    "grads": {name: numbers(g) for (name, _), g in named},
                }
            )
        if step > 0:  # the loss: the mean of the ranks' losses
            line["loss"] = math.fsum(r["loss"] for r in ranks) / world
        line["ranks"] = ranks
        values = [mine[-count:] for mine in everyone]
        line["max_param_diff_across_ranks"] = max(
            (v - values[0]).abs().max().item() for v in values
        )
        line["all_reduces"] = None if step == 0 else 1  # (gradcli's count: once a step)
        print(json.dumps(line, separators=(",", ":")))""".splitlines()

_GATHER = '''\
def gather(step: int, loss: float | None) -> list[torch.Tensor] | None:
    """Every rank's loss, own gradient and parameters, each rank's in one float64 vector,
    on rank 0 (None on the others). A collective: every rank calls it."""
    pieces = [p.detach().reshape(-1) for p in params]
    if step > 0:
        loss_piece = torch.tensor([loss], dtype=torch.float64)
        pieces = [loss_piece, *(g.reshape(-1) for g in own), *pieces]
    mine = torch.cat([piece.to(torch.float64) for piece in pieces])
    everyone = [torch.empty_like(mine) for _ in range(world)] if rank == 0 else None
    dist.gather(mine, everyone, dst=0)
    return everyone'''

_MEAN = '''\
def mean_over_ranks(loss: float) -> float:
    """The mean of every rank's loss, which ReduceLROnPlateau is fed, so that every rank
    keeps one lr. A collective: every rank calls it."""
    value = torch.tensor([loss], dtype=torch.float64)
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value.item() / world'''
