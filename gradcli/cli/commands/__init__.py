"""One module per command: its options, their checks, and its call into the layers below.
None imports torch at import time; each command imports what it runs inside its body.

``COMMANDS`` is the table of contents, as pip keeps its own (``pip._internal.commands``):
each command's name, the module and function that hold it, and what it does — the text
``gradcli --help`` lists. The listing needs nothing else, so ``gradcli --help`` imports no
command module, and ``gradcli optim -h`` imports and builds ``optim``'s alone
(``gradcli.cli.app``). A module adds ``DETAILS`` to its command's own ``--help`` where the
listing would be too long.
"""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    """Where a command lives and what it does (its help, first in the listing)."""

    module: str  # under gradcli.cli.commands
    function: str
    examples: str  # the module's attribute holding the epilog
    help: str


COMMANDS: dict[str, Command] = {
    "optim": Command(
        "train",
        "optim",
        "OPTIM_EXAMPLES",
        "Train with torch.optim: zero_grad(), loss = model(), loss.backward(), step().",
    ),
    "manual": Command(
        "train",
        "manual",
        "MANUAL_EXAMPLES",
        "Train with a hand-written update: autograd computes the gradients, then each "
        "parameter is updated in place under torch.no_grad() and the gradients are dropped "
        "(set to None, as optimizer.zero_grad() does).",
    ),
    "compare": Command(
        "compare",
        "compare",
        "EXAMPLES",
        "Run several optimizers by hand and with torch.optim from the same start; show "
        "their losses, how far the two paths drift apart (0 = bit for bit) and the loss curves.",
    ),
    "optimizers": Command(
        "optimizers",
        "optimizers",
        "EXAMPLES",
        "The optimizers gradcli writes by hand, with torch's keywords and defaults; with "
        "NAME, its update rule as math, every keyword's default, range and meaning, and its "
        "state.",
    ),
    "lr-find": Command(
        "lr_find",
        "lr_find",
        "EXAMPLES",
        "The learning-rate range test: train with an lr that grows every step from "
        "--start-lr to --end-lr, smooth the loss, and suggest the lr where it falls fastest. "
        "Piped, it prints the suggestion alone: LR=$(gradcli lr-find -m mlp -o adam). "
        "Nothing is saved: the model and optimizer are thrown away after.",
    ),
    "schedule": Command(
        "schedule",
        "schedule",
        "EXAMPLES",
        "A learning-rate scheduler of torch.optim.lr_scheduler, in torch's constructor "
        "syntax: the lr of each training step (and the momentum or β1 it sets) computed by "
        "hand and by torch, side by side, with whether they agree bit for bit and the curve.",
    ),
    "plot": Command(
        "plot",
        "plot",
        "EXAMPLES",
        "Draw runs from gradcli's JSON lines (one run per FILE; - or none: stdin): the loss, "
        "each parameter's gradient norm and, for a problem with two trainable elements, the "
        "path on its loss surface. No torch needed.",
    ),
    "report": Command(
        "report",
        "report",
        "EXAMPLES",
        "Write a one-page HTML report of runs from gradcli's JSON lines (one run per FILE; - "
        "or none: stdin): the command, the figures inline, the summary table. Self-contained: "
        "it opens offline in any browser. Needs matplotlib (pip install 'gradcli\\[plot]').",
    ),
    "diff": Command(
        "diff",
        "diff",
        "EXAMPLES",
        "Compare two runs' JSON lines record by record, like cmp: exit 0 when every record "
        "agrees bit for bit (or within --ulps, --rtol, --atol), 1 at the first difference (the "
        "step, parameter, field, both values, the gap in absolute terms and ULPs), then how "
        "the gap grows.",
    ),
    "params": Command(
        "params",
        "params",
        "EXAMPLES",
        "What a module holds — Parameter, frozen Parameter, buffers, plain tensor "
        "attributes — and what each takes part in, found by doing it on a copy of the model.",
    ),
    "graph": Command(
        "graph",
        "graph",
        "EXAMPLES",
        "The autograd graph behind the loss, from its grad_fn down to the AccumulateGrad "
        "leaves of the parameters.",
    ),
    "pitfalls": Command(
        "pitfalls",
        "pitfalls",
        "EXAMPLES",
        "Classic mistakes run beside the correct code on the same tensors: zero_grad, "
        "in-place updates, schedules, clipping, eval mode, accumulation and mixed precision. "
        "Without NAME, the list.",
    ),
    "ddp": Command(
        "ddp",
        "ddp",
        "EXAMPLES",
        "Data-parallel training on torch.distributed: N workers, one shard of the data each, "
        "gradients averaged by hand (all_reduce) or by DistributedDataParallel; rank 0 shows "
        "each rank's gradient, the average, and that the parameters agree on every rank.",
    ),
    "step": Command(
        "step",
        "step",
        "EXAMPLES",
        "Train one keypress at a time, full screen: s steps, space runs and pauses, r resets, "
        "+/- double and halve the lr, o picks the next run, m switches optim/manual, e and t "
        "toggle --explain and --state, arrows move the start of a 2-D problem, q quits. Each "
        "step's record is gradcli optim's for the same step, bit for bit. Needs a terminal "
        "and textual (pip install 'gradcli\\[step]').",
    ),
}
