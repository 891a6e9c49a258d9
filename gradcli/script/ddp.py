"""``gradcli ddp --print-script``: the run as a plain PyTorch script to start with
``torchrun --nproc-per-node N``, which prints on rank 0 what ``gradcli ddp`` prints, byte for
byte (on the CPU, with gloo).

A rank of ``gradcli ddp`` runs the loop of ``optim`` (``--path ddp``) or ``manual``
(``--path manual``) on its shard with a few lines added (``gradcli/ddp/worker.py``), and so
does its script: it is that path's script (``program.py``, which writes the problem, the
JSON lines, the rule and the loop, the micro-batches of ``--accumulate``, the autocast and
scaler of ``--amp``), with the lines a rank adds put in at their places —

- the process group joined; this rank's contiguous share of the data kept, once the number
  of ranks is checked to divide it (or with ``--data``, the batches a
  ``DistributedSampler`` deals it: ``ddp_data.py``);
- ``--path ddp``: the loss through ``DistributedDataParallel``, which averages the gradients
  in ``backward()`` (with ``--accumulate K``, in the last micro-batch's only: ``no_sync()``
  before), and this rank's own gradient from the model itself again (with ``--accumulate``,
  its micro-batches again, in ``own_gradient()``);
- ``--path manual``: after the backward passes, this rank's own gradient kept, then
  ``dist.all_reduce(grad, SUM)`` and ``grad /= world``, by hand;
- ``--amp fp16``: the rank's own gradient unscaled as ``unscale_()`` unscales ``.grad``;
- in the log, every rank's loss, gradient and parameters gathered on rank 0, which alone
  prints, and the run's end, the group left.

Each place is found by a line of the path's script that must be there (``places.py``): a
change to ``program.py`` that moves one fails here, loudly, never in a script.
"""

from __future__ import annotations

import inspect
import json
import textwrap

import torch

from gradcli.data.feed import Shard
from gradcli.ddp.options import DdpOptions
from gradcli.errors import GradcliError
from gradcli.script.ddp_data import refused, sampled
from gradcli.script.extras import log_step
from gradcli.script.literals import LINE_LENGTH
from gradcli.script.passes import _comment, autocast, under
from gradcli.script.places import depth, find, place
from gradcli.script.program import _command, import_lines, program
from gradcli.script.scaling import SPELLED
from gradcli.spec import RunSpec

# the lines of a path's script the rank's lines go beside
_SEED = "torch.manual_seed("
_PARAMS = "params = list(model.parameters())"
_PRINT = 'print(json.dumps(line, separators=(",", ":")))'
_FED = "scheduler.step(loss.item())"
_GATHERED = "return everyone"  # (gather()'s last line)


def refusal(spec: RunSpec, options: DdpOptions) -> str | None:
    """Why ``gradcli ddp``'s run cannot be printed as a script, if it cannot."""
    why = {
        "--device": "a script runs on the CPU with gloo; leave out --device or give cpu",
        "--format": "a script prints JSON lines",
        "--plot-file": "a script draws no figure; leave --plot-file out",
    }
    given = {
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
    processes (what the docstring says to start; on a problem that owns its data it runs on
    any number that divides the data evenly, and checks it)."""
    wrong = refusal(spec, options)
    if wrong is not None:
        raise GradcliError(wrong)
    path = "optim" if options.path == "ddp" else "manual"
    spec = spec.with_every()
    on_data = spec.data is not None
    lines = program(spec, path, Shard(0, world) if on_data else None).splitlines()
    by_ddp = options.path == "ddp"
    # the docstring: the gradcli ddp command, and how to start the script
    end = lines.index('"""', 1)
    lines[: end + 1] = _docstring(spec, options, world, lines)
    _imports(lines, by_ddp, on_data, spec.accumulate > 1)
    _log(lines)
    _setup(lines, spec, by_ddp, world)
    _loop(lines, spec, by_ddp)
    fed = find(lines, _FED)
    if fed is not None:  # ReduceLROnPlateau: one lr for all, from the mean loss over the ranks
        assert lines[fed - 1].strip().startswith("# the schedule"), lines[fed - 1]
        lines[fed - 1] += " (fed the mean loss over the ranks)"
        lines[fed] = lines[fed].replace("(loss.item())", "(mean_over_ranks(loss.item()))")
        at = place(lines, _GATHERED)
        lines[at + 1 : at + 1] = ["", "", *_MEAN.splitlines()]
    lines += ["", "dist.destroy_process_group()  # (torchrun's processes leave the group)", *_END]
    return "\n".join(lines) + "\n"


# the end, as gradcli's own workers end (``gradcli/ddp/launch.py``): the exit at once
_END = [
    "# end here, as gradcli's workers end: a normal exit runs C++'s static destructors, and",
    "# under load one of gloo's threads can still be joinable then (\"terminate called",
    '# without an active exception", SIGABRT)',
    "sys.stdout.flush()",
    "os._exit(0)",
]


def _imports(lines: list[str], by_ddp: bool, on_data: bool, micro: bool) -> None:
    """The imports: torch.distributed, and what a rank's lines use (DDP's class and its
    ``nullcontext()`` for the last micro-batch; the sampler; ``sys`` and ``os`` for the exit)."""
    first = next(i for i, line in enumerate(lines) if line.startswith(("import ", "from ")))
    last = first
    while last < len(lines) and (lines[last].startswith(("import ", "from ")) or not lines[last]):
        last += 1
    imported = [line for line in lines[first:last] if line]
    blank = last - first - len(imported) - 1  # (the blank lines after them, kept)
    imported += ["import torch.distributed as dist", "import os", "import sys"]
    imported += ["from torch.utils.data import DistributedSampler"] if on_data else []
    if by_ddp:
        imported.append("from torch.nn.parallel import DistributedDataParallel")
    if by_ddp and micro:
        imported.append("from contextlib import nullcontext")
    lines[first:last] = [*import_lines(imported), *[""] * blank]


def _log(lines: list[str]) -> None:
    """The log: every rank's part gathered (``gather()``, after ``log()``), and rank 0
    prints."""
    at = place(lines, _PRINT, last=False)
    ranks = _RANKS
    if lines[at - 1] == SPELLED.rstrip("\n"):  # (--amp fp16: the ranks' gradients spelled too)
        del lines[at - 1]
        at -= 1
        ranks = [*_RANKS[:-1], "    " + SPELLED.rstrip("\n"), _RANKS[-1]]
    lines[at : at + 1] = ranks
    lines[at + len(ranks) : at + len(ranks)] = ["", "", *_GATHER.splitlines()]


def _setup(lines: list[str], spec: RunSpec, by_ddp: bool, world: int) -> None:
    """The set-up: the process group joined first, then the model, wrapped, and its shard
    (or with --data, the batches a DistributedSampler deals this rank, of ``world``)."""
    at = place(lines, _SEED, start=True, last=False)
    lines[at:at] = _join(world)
    at = place(lines, _PARAMS)
    own_model = ":" in spec.model
    if spec.data is not None:
        lines[at:at] = _wrap(on_data=True) if by_ddp else []
        sampled(lines, _counts_right(lines), world)
    else:
        rank_lines = [*_even(spec, own_model), *(_wrap(on_data=False) if by_ddp else [])]
        lines[at:at] = [*rank_lines, *_shard(spec, own_model)]
    at = place(lines, _PARAMS)
    lines.insert(at + 1, "own = []  # this rank's own gradient of the step (the log shows it)")


def _loop(lines: list[str], spec: RunSpec, by_ddp: bool) -> None:
    """The loop: the forward through DDP (with --accumulate, under ``no_sync()`` for all
    but the last micro-batch), and the rank's lines after the backward passes: its own
    gradient kept, and on the manual path the averaging by hand."""
    on_data, amp = spec.data is not None, spec.amp
    micro = _micro_loop(lines) is not None
    said = _said(on_data, by_ddp, micro)
    again = "model()"  # (the loss on the model itself, for a rank's own gradient)
    if not micro:
        forward = "outputs = model(x_batch)" if on_data else "loss = model()"
        at = _reword(lines, place(lines, forward), said)
        if on_data:  # the next line's loss, of the model's outputs
            loss = lines[at + 1].strip().removeprefix("loss = ")
            again = loss.replace("outputs", "model(x_batch)", 1)
        if by_ddp:
            lines[at] = lines[at].replace("model(", "ddp_model(", 1)
    else:
        at = _reword(lines, place(lines, _MICRO_START), said)
        if by_ddp:
            own_function = _own_function(lines, at)
            header = _micro_loop(lines)
            assert header is not None
            _no_sync(lines, header)
            at = place(lines, _GATHERED)
            lines[at + 1 : at + 1] = ["", "", *own_function]
    at = _after_passes(lines)
    if by_ddp:
        own = [*(_OWN_BY_DDP_MICRO if micro else _OWN_BY_DDP), *_own_by_ddp(amp, micro, again)]
    else:
        own = list(_BY_HAND)
    if amp == "fp16":
        own += _unscale_own("ddp" if by_ddp else "manual")
    if by_ddp and spec.every > 1:  # (only the steps logged)
        test = log_step(spec, [], 0)[0]
        own = [own[0], own[1], test, *("    " + line for line in own[2:])]
    lines[at + 1 : at + 1] = [" " * depth(lines[at]) + line for line in own]


def _micro_loop(lines: list[str]) -> int | None:
    """The index of the micro-batches' loop (``--accumulate``), if the script has one."""
    for loop in _MICRO_LOOPS:
        at = find(lines, loop)
        if at is not None:
            return at
    return None


def _said(on_data: bool, by_ddp: bool, micro: bool) -> str:
    """What a rank's script says the loss is computed on (in the phase's comment)."""
    if not by_ddp:
        return _BATCH if on_data else _SHARD
    where = "the last micro-batch's backward()" if micro else "backward()"
    of = "on this rank's batch" if on_data else "of this rank's shard"
    return f"the loss {of}, through DDP (which averages the gradients across the ranks in {where})"


def _counts_right(lines: list[str]) -> bool:
    """Whether the script's epochs count the samples classified right (data of classes)."""
    return find(lines, "right += (outputs.argmax(dim=1) == y_batch).sum().item()") is not None


def _reword(lines: list[str], at: int, said: str) -> int:
    """The phase's comment above the statement at ``at`` (above its ``with torch.autocast``,
    where there is one) saying ``said`` of the loss instead of the path's words; returns the
    statement's index after it."""
    last = at - 1 if not lines[at - 1].lstrip().startswith("with ") else at - 2
    first = last
    while lines[first - 1].lstrip().startswith("#"):
        first -= 1
    words = " ".join(line.strip().lstrip("#").strip() for line in lines[first : last + 1])
    for path_said in _PATH_SAID:
        if path_said in words:
            break
    else:
        raise AssertionError(f"the path's comment says none of {_PATH_SAID}: {words!r}")
    comment = _comment(words.replace(path_said, said, 1), depth(lines[first]))
    lines[first : last + 1] = [" " * depth(lines[first]) + line for line in comment]
    return at + len(comment) - (last + 1 - first)


def _after_passes(lines: list[str]) -> int:
    """The index of the loop's last line of its forward and backward passes, after which a
    rank's gradient is its own and complete: the backward, or with --accumulate the line
    that ends the micro-batches' (the last such line: the loop comes last)."""
    ends = ("loss.backward()", "scaler.scale(loss).backward()")
    for index in range(len(lines) - 1, -1, -1):
        text = lines[index].strip()
        if text in ends or text.startswith("one_batch_ulps = gap_in_ulps()"):
            return index
    raise AssertionError("the path's script has no backward pass")


def _own_function(lines: list[str], at: int) -> list[str]:
    """``--path ddp --accumulate K``: ``own_gradient()``, the step's micro-batches (the loop's
    lines from ``at``, as the path's script writes them) again on the model itself, for
    this rank's own gradient and what the log shows of them (as gradcli's worker does)."""
    end = _after_passes(lines) + 1
    indent = depth(lines[at])
    block = [
        "    " + line[indent:] if line else ""
        for line in lines[at:end]
        if not line.strip().startswith(_COUNTING)  # (--data: the batch counted once, above)
    ]
    return [
        "def own_gradient() -> tuple[list[torch.Tensor], list[float], list[float], int | None]:",
        '    """This rank\'s own gradient of the step (DDP averaged p.grad away), and what the log',
        "    shows of its micro-batches, measured on it as gradcli measures them: the",
        "    micro-batches again, on the model itself (not DDP's wrapper). The averaged gradients",
        '    are put back after. Only the steps logged call it."""',
        "    averaged = [p.grad for p in params]",
        "    for p in params:",
        "        p.grad = None",
        *block,
        "    own_grads = [torch.zeros_like(p) if p.grad is None else p.grad.detach()"
        + " for p in params]",
        "    for p, grad in zip(params, averaged, strict=True):",
        "        p.grad = grad",
        "    return own_grads, micro_losses, micro_grad_norms, one_batch_ulps",
    ]


def _no_sync(lines: list[str], header: int) -> None:
    """``--path ddp --accumulate K``: the micro-batches' forward and backward under DDP's
    ``no_sync()`` for all but the last, so that the gradients are all-reduced once an update,
    in the last one's backward (gradcli's ``micro_context``)."""
    indent = depth(lines[header])
    loop = lines[header].strip()
    each, _, batches = loop.removeprefix("for ").removesuffix(":").partition(" in ")
    each = f"({each})" if "," in each else each
    lines[header] = " " * indent + f"for i, {each} in enumerate({batches}):"
    end = header + 1
    while end < len(lines) and (not lines[end].strip() or depth(lines[end]) > indent):
        end += 1
    body = range(header + 1, end)
    added = next(i for i in body if lines[i].strip().startswith("added = "))
    backward = next(
        i for i in body if lines[i].strip().startswith(("(micro_loss /", "scaler.scale(micro_loss"))
    )
    inner = " " * (indent + 4)
    for i in range(added + 1, backward + 1):
        lines[i] = "    " + lines[i].replace("= model(", "= ddp_model(", 1)
    lines[added + 1 : added + 1] = [
        *textwrap.wrap(
            _NO_SYNC, LINE_LENGTH, initial_indent=inner + "# ", subsequent_indent=inner + "# "
        ),
        inner + f"with ddp_model.no_sync() if i < len({batches}) - 1 else nullcontext():",
    ]


def _own_by_ddp(amp: str | None, micro: bool, again: str) -> list[str]:
    """``--path ddp``: this rank's own gradient (and with --accumulate what the log shows
    of its micro-batches), which DDP averaged away, computed again on the model itself
    (``again``: the loss's expression on it)."""
    if micro:
        return ["own, micro_losses, micro_grad_norms, one_batch_ulps = own_gradient()"]
    scaled = "scaler.scale(own_loss)" if amp == "fp16" else "own_loss"
    return [
        *under(autocast(amp, torch.device("cpu")), [f"own_loss = {again}"]),
        f"own = [g.detach() for g in torch.autograd.grad({scaled}, params)]",
    ]


def _unscale_own(path: str) -> list[str]:
    """``--amp fp16``: this rank's own gradient, S·g, unscaled as ``unscale_()`` unscales
    ``p.grad`` (gradcli's worker does the same for the log)."""
    scale = "scaler.get_scale()" if path == "ddp" else 'scaler.state_dict()["scale"]'
    return [
        "# (--amp fp16) own holds S·g: unscaled as unscale_() will unscale p.grad, times",
        "# float32(1/S), the reciprocal taken in float64",
        f"inv_scale = torch.tensor(1 / {scale}, dtype=torch.float32)",
        "own = [g * inv_scale for g in own]",
    ]


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
    share = (
        "Each process draws its own batches through a DistributedSampler"
        if spec.data is not None
        else "Each process trains on its contiguous share of the data"
    )
    epochs = (
        " And one at the end of each epoch: the training loss (and accuracy) over every "
        "rank's batches, and the held-out data's, each rank evaluating its share."
        if spec.data is not None
        else ""
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
            f"{share}; {averaged}. Rank 0 prints one JSON line per step, the same as gradcli ddp's "
            "with --format jsonl: the loss and the gradients before each update, every "
            "parameter after it and the change it made, and every rank's own loss and "
            f"gradient and how far the ranks' parameters differ.{epochs}",
            92,
            break_on_hyphens=False,
        ),
        '"""',
    ]


def _join(world: int) -> list[str]:
    """The process group joined: first, what torchrun sets checked to be there (a script
    started as ``python script.py`` is one line and exit 2, not init_process_group()'s
    traceback)."""
    return [
        "# torchrun started this process as one rank of several, and said where they meet:",
        "# else one line, exit 2",
        'for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):',
        "    if name not in os.environ:",
        "        print(",
        '            f"{sys.argv[0]}: error: {name} is not set: start this script with torchrun, "',
        f'            f"as torchrun --nproc-per-node {world} {{sys.argv[0]}}",',
        "            file=sys.stderr,",
        "        )",
        "        sys.exit(2)",
        "# join them (gloo, on the CPU)",
        'dist.init_process_group("gloo")',
        "rank, world = dist.get_rank(), dist.get_world_size()",
    ]


def _wrap(on_data: bool) -> list[str]:
    """DDP's wrapper of the model: on a problem's own data, told not to broadcast rank 0's
    buffers (the data) over the others' (``forward_sync_buffers``; ``broadcast_buffers``
    before torch 2.11); a network on its batches, as it comes."""
    if on_data:
        return [
            "# DistributedDataParallel: built, it broadcasts rank 0's parameters (the same on",
            "# every rank here: the same --seed); in backward(), it averages the gradients",
            "ddp_model = DistributedDataParallel(model)",
        ]
    from torch.nn.parallel import DistributedDataParallel

    takes = inspect.signature(DistributedDataParallel.__init__).parameters
    keyword = "forward_sync_buffers" if "forward_sync_buffers" in takes else "broadcast_buffers"
    return [
        "# DistributedDataParallel: the data are buffers that differ by rank, so DDP must not",
        "# broadcast rank 0's over them before each forward, and the shard is taken after",
        "# wrapping (DDP broadcasts the buffers once, when it is built)",
        f"ddp_model = DistributedDataParallel(model, {keyword}=False)",
    ]


def _even(spec: RunSpec, own_model: bool) -> list[str]:
    """gradcli ddp's check of the data against the number of processes (``check_run``), as
    the script makes it with torchrun's: every rank an equal share of the samples (and
    with --accumulate K, K equal micro-batches of a share), else one line on stderr and
    exit status 2 on every rank."""
    from gradcli.problems import BUILTINS

    if own_model:
        samples = "model.samples()"
    else:
        samples = f"len(model.{BUILTINS[spec.model].data_buffers[0]})"  # type: ignore[attr-defined]
    k = spec.accumulate
    lines = [
        "# every rank an equal share of the samples, as gradcli ddp checks: else one line, exit 2",
        f"samples = {samples}",
        "why = None",
        "if samples % world:",
        '    why = f"the {samples} samples do not split evenly"',
    ]
    if k > 1:
        lines += [
            f"elif samples // world % {k}:",
            f"    why = f\"{k} micro-batches cannot share a rank's {{samples // world}} samples "
            f'(--accumulate {k})"',
        ]
    said = [
        'f"{sys.argv[0]}: error: {world} processes (--nproc-per-node): {why}; start "',
        '"it on a number of processes that divides them evenly"',
    ]
    return [*lines, *refused("why is not None", said)]


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
]
_COUNTING = ("# the batch counts towards", "loss_sum += ", "right += ", "seen += ")
_OWN_BY_DDP_MICRO = [
    "# DDP has averaged the gradients; this rank's own, which the log shows, and what the",
    "# log shows of its micro-batches, from them again on the model itself (own_gradient)",
]
# what a path's script says the loss is computed on, and what a rank's script says
_PATH_SAID = (
    "the loss at the current parameters",
    "the loss on this batch, at the current parameters",
)
_SHARD = "the loss of this rank's shard at the current parameters"
_BATCH = "the loss on this rank's batch, at the current parameters"
# the micro-batches' loop of a path's script: a problem's own data cut, or --data's window
_MICRO_START = "micro_losses, micro_grad_norms = [], []  # (for the log)"
_MICRO_LOOPS = ("for micro_batch in micro_batches:", "for x_batch, y_batch in window:")
_NO_SYNC = (
    "DDP all-reduces the gradients in the last micro-batch's backward() only: before it, "
    "under no_sync(), each backward() adds into this rank's own p.grad"
)

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
