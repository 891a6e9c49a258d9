"""``--amp fp16``'s gradient scaler in a script: on the optim path ``torch.amp.GradScaler``
in the loop torch documents (``scaler.scale(loss).backward()``, ``unscale_`` before
clipping, ``scaler.step``, ``scaler.update()``); on the manual path the same arithmetic by
hand, gradcli's ``HandScaler`` (``gradcli/train/loss_scaling.py``), whose source
``source.gather`` writes into the script. The records' ``scale`` (S of the step's backward)
and ``skipped`` (an inf or a NaN in the gradients: no update) come from the scaler.
"""

from __future__ import annotations

import torch

from gradcli.script.literals import call, literal
from gradcli.spec import RunSpec
from gradcli.train.loss_scaling import HandScaler

# the methods of HandScaler a script calls (what they call in turn is found from their code)
HAND_SCALER_CALLS = ("scale", "unscale_", "skips", "found_inf", "update", "state_dict")
RESUME_CALLS = ("load_state_dict",)


def scaler_lines(spec: RunSpec, path: str, device: torch.device) -> list[str]:
    """The set-up: the scaler, as gradcli makes it (``gradcli.train.setup.make_scaler``)."""
    keywords = [f"init_scale={literal(spec.loss_scale)}", f"growth_interval={spec.growth_interval}"]
    if path == "optim":
        return [
            "# --amp fp16: torch's gradient scaler multiplies the loss by S before backward()",
            *call("scaler = torch.amp.GradScaler", [f'"{device.type}"', *keywords], 0),
        ]
    return [
        "# --amp fp16: the gradient scaler by hand (HandScaler, above: torch.amp.GradScaler's",
        "# arithmetic), which multiplies the loss by S before backward()",
        *call(f"scaler = {HandScaler.__name__}", keywords, 0),
    ]


def unscale_lines(path: str, parts: list[str], micro: bool, explain: bool = False) -> list[str]:
    """After the backward, before clipping (as torch documents): each optimizer's gradients
    divided by S (``parts``: its optimizers, or on the manual path the lists of parameters
    each trains), S kept for the log, and on the manual path whether an inf or a NaN was
    found (the optim path reads it from ``update()``, ``step_lines``); with ``micro``
    (--accumulate) the norms of what each micro-batch added divided by S too, as gradcli's
    records show them."""
    norms = ["micro_grad_norms = [n / scale for n in micro_grad_norms]  # (for the log) unscaled"]
    norms = norms if micro else []
    if explain:
        norms.append('tracker = scaler.state_dict()["_growth_tracker"]  # (for --explain)')
    lines = [
        "# unscale: g ← (S·g)·(1/S) in every gradient, before clipping (which must see g);",
        "# an inf or a NaN found in them skips this step's update",
    ]
    if path == "optim":
        lines += [f"scaler.unscale_({name})" for name in parts]
        lines.append("scale = scaler.get_scale()  # (for the log) S of this step")
        return [*lines, *norms]
    lines += [
        f"scaler.unscale_({i}, [p.grad for p in {name} if p.grad is not None])"
        for i, name in enumerate(parts)
    ]
    return [
        *lines,
        'scale = scaler.state_dict()["scale"]  # (for the log) S of this step',
        "skipped = bool(scaler.found_inf())  # (for the log) an inf or a NaN: no update",
        *norms,
    ]


def explained_lines(spec: RunSpec) -> list[str]:
    """With --explain, before the log: what its lines of the loss scaling read."""
    if not spec.explain:
        return []
    return ["scaling = (scale, skipped, tracker, loss.item())  # (for --explain)"]


def step_lines(optimizers: list[str]) -> list[str]:
    """The optim path's update: ``scaler.step`` of each optimizer, then ``update()``."""
    return [
        "# 4. update: scaler.step(optimizer) runs optimizer.step(), unless unscale_ found an",
        "#    inf or a NaN in its gradients; then update() halves S after such a step, or",
        "#    doubles it after growth_interval steps in a row without one",
        *(f"scaler.step({name})" for name in optimizers),
        "scaler.update()",
        "skipped = scaler.get_scale() < scale  # (for the log) update() halved S: skipped",
    ]


def keywords(spec: RunSpec) -> list[str]:
    """What the step's ``log(...)`` call adds: S, whether the step was skipped, and with
    --state the scaler's state after ``update()``."""
    words = ["scale=scale", "skipped=skipped"]
    return [*words, "scaler=scaler.state_dict()"] if spec.state else words


def save_lines() -> list[str]:
    """What a checkpoint adds: the scaler's state after the last ``update()``."""
    return ['checkpoint["grad_scaler"] = scaler.state_dict()  # --amp fp16: S and its tracker']


def resume_lines(spec: RunSpec) -> list[str]:
    """The checkpoint's scaler state loaded, with this run's growth interval (as gradcli's
    ``restore_scaler``)."""
    state = f'{{**checkpoint["grad_scaler"], "growth_interval": {spec.growth_interval}}}'
    return ["# --amp fp16: the scaler's S and growth tracker", f"scaler.load_state_dict({state})"]


LOG_ARGUMENTS = """
    scale: float | None = None,
    skipped: bool | None = None,
    scaler: dict | None = None,"""
LOG = """\
    if scale is not None:  # --amp fp16: S of the step's backward, whether the update was
        # skipped (an inf or a NaN in the gradients), with --state the scaler's state after
        line["scale"] = scale
        line["skipped"] = skipped
        if scaler is not None:
            line["scaler"] = {k: scaler[k] for k in ("scale", "_growth_tracker")}
"""
SPELLED = """\
    line = spell(line)  # (an inf or a NaN as gradcli writes it: "Infinity", "NaN")
"""

# optim with a schedule: what keeps the script as quiet as gradcli (``Update.schedule_step``)
QUIET_SCHEDULER = [
    "# a first update skipped by the scaler makes torch warn that the scheduler stepped",
    "# before the optimizer: with a gradient scaler that is the loop torch documents",
    'warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")',
]
