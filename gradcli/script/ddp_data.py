"""``gradcli ddp --data --print-script``: the lines a rank adds to the data loop of a path's
script (``data.py``), as ``gradcli ddp``'s ``Feed`` draws, counts and evaluates under a
``Shard`` (``gradcli/data/feed.py``):

- the loader's batches dealt by a ``DistributedSampler`` (``num_replicas=world``,
  ``rank=rank``, ``seed=--data-seed``), and ``sampler.set_epoch(epoch - 1)`` before each
  epoch, so every epoch has a new order, the same on every rank;
- at the end of an epoch, the epoch's sums (loss × samples, right, samples) added over the
  ranks, and the held-out data evaluated on every rank, each its contiguous share
  (``tensor_split``), the sums added over the ranks: the numbers gradcli prints, every rank
  holding them;
- rank 0 alone prints the end of an epoch.

Each place is found by a line the path's script must have (``ddp._statement``).
"""

from __future__ import annotations

import re

from gradcli.script.literals import call
from gradcli.script.places import depth, find, place

_LOADER = "# the batches: a DataLoader with its own generator, so --data-seed alone orders them"


def sampled(lines: list[str], classification: bool, world: int) -> None:
    """The data loop of a path's script, in ``lines``, as a rank of ``world`` runs it (in
    place)."""
    _sampler(lines)
    at = place(lines, "loader = DataLoader(", last=False)
    end = lines.index(")", at)
    said = [
        'f"{sys.argv[0]}: error: {world} processes (--nproc-per-node): this script deals "',
        f'"the batches among {world} processes (its epochs count theirs); start it on {world}"',
    ]
    lines[end + 1 : end + 1] = [
        f"# the processes this script is for (gradcli ddp --nproc {world}): else one line, exit 2",
        *refused(f"world != {world}", said),
    ]
    at = place(lines, "model.train()")
    lines.insert(
        at + 1,
        " " * depth(lines[at])
        + "sampler.set_epoch(epoch - 1)  # this epoch's order (the same on every rank)",
    )
    _evaluate(lines)
    at = place(lines, "val_loss, val_accuracy = ", start=True)
    right = "right" if classification else "0.0"
    unpacked = "loss_sum, right, seen" if classification else "loss_sum, _, seen"
    indent = " " * depth(lines[at])
    lines[at:at] = [
        indent + line
        for line in (
            "# the epoch's sums over every rank's batches (a collective: every rank adds them)",
            f"sums = torch.tensor([loss_sum, {right}, seen], dtype=torch.float64)",
            "dist.all_reduce(sums, op=dist.ReduceOp.SUM)",
            f"{unpacked} = sums.tolist()",
        )
    ]
    at = place(lines, 'print(json.dumps(line, separators=(",", ":")))')
    indent = " " * depth(lines[at])
    lines[at : at + 1] = [f"{indent}if rank == 0:  # (rank 0 alone prints)", "    " + lines[at]]


def refused(test: str, said: list[str]) -> list[str]:
    """Where ``test`` holds: ``said`` (a message's parts, as source) on stderr from rank 0,
    and exit status 2 on every rank, the group left; as gradcli ddp refuses a run."""
    return [
        f"if {test}:",
        "    if rank == 0:",
        "        print(",
        *(f"            {part}" for part in said[:-1]),
        f"            {said[-1]},",
        "            file=sys.stderr,",
        "        )",
        "    dist.destroy_process_group()",
        "    sys.stderr.flush()",
        "    os._exit(2)  # (at once, as at the script's end)",
    ]


def _sampler(lines: list[str]) -> None:
    """The loader's batches dealt among the ranks by a ``DistributedSampler``."""
    first = lines.index(_LOADER)
    last = lines.index(")", first)
    options = dict(re.findall(r"^    (\w+)=(.*),$", "\n".join(lines[first:last]), re.M))
    seed = re.fullmatch(r"torch\.Generator\(\)\.manual_seed\((\d+)\)", options["generator"])
    assert seed is not None, options
    lines[first : last + 1] = [
        "# the batches: each rank draws its own through a DistributedSampler, which deals every",
        "# epoch's order (from --data-seed and the epoch, the same on every rank) among the",
        "# ranks; the loader's own generator gives only its base seed (torch's is left alone)",
        "dataset = TensorDataset(x_train, y_train)",
        *call(
            "sampler = DistributedSampler",
            [
                "dataset",
                "num_replicas=world",
                "rank=rank",
                f"shuffle={options['shuffle']}",
                f"seed={seed.group(1)}",
                f"drop_last={options['drop_last']}",
            ],
            0,
        ),
        *call(
            "loader = DataLoader",
            [
                "dataset",
                f"batch_size={options['batch_size']}",
                "sampler=sampler",
                f"drop_last={options['drop_last']}",
                f"generator={options['generator']}",
            ],
            0,
        ),
    ]


def _evaluate(lines: list[str]) -> None:
    """``evaluate(x, y)`` on this rank's contiguous share of (x, y), the sums added over the
    ranks, the means over all the samples (``Feed.evaluate`` with a shard)."""
    start = find(lines, "def evaluate(", start=True, last=False)
    if start is None:
        return  # (no held-out data)
    at = lines.index("    model.eval()", start)
    lines[at + 1 : at + 1] = [
        "    # this rank's contiguous share of the samples; the sums are added over the ranks",
        "    samples = len(x)",
        "    x, y = x.tensor_split(world)[rank], y.tensor_split(world)[rank]",
    ]
    at = next(i for i in range(at, len(lines)) if lines[i].startswith("    return "))
    mean, fraction = lines[at].removeprefix("    return ").split(", ")
    total = mean.removesuffix(" / len(x)")
    accuracy = fraction != "None"
    lines[at : at + 1] = [
        "    # every rank's sums added (a collective: every rank evaluates)",
        f"    sums = torch.tensor([{total}, {'right' if accuracy else '0.0'}], "
        + "dtype=torch.float64)",
        "    dist.all_reduce(sums, op=dist.ReduceOp.SUM)",
        f"    loss_sum, {'right' if accuracy else '_'} = sums.tolist()",
        "    return loss_sum / samples, " + ("right / samples" if accuracy else "None"),
    ]
