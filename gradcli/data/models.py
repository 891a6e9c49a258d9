"""The architectures ``--model`` names when a run trains on ``--data``.

Each takes a batch of inputs and returns one output per class (classification: logits) or
per target column (regression); the loss is the task's (``feed.py``). Sizes follow the data:

- ``linear``: ``Flatten → Linear(inputs, outputs)``: logistic or linear regression.
- ``mlp``: ``Flatten → Linear(inputs, 64) → ReLU → Linear(64, 64) → ReLU → Linear(64, outputs)``.
- ``cnn`` (images only): ``Conv2d(c, 16, 3, padding=1) → ReLU → MaxPool2d(2) → Conv2d(16, 32, 3,
  padding=1) → ReLU → MaxPool2d(2) → Flatten → Linear(32·⌊h/4⌋·⌊w/4⌋, outputs)``.

A user's ``file.py:factory`` or ``module:factory`` returns any ``nn.Module`` whose
``forward(x)`` takes a batch ``[b, *shape]`` and returns ``[b, outputs]`` (checked on two
samples before the run).
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import torch
from torch import Tensor, nn

from gradcli.data.dataset import CLASSIFICATION, DataSet
from gradcli.errors import GradcliError
from gradcli.problems import user_model
from gradcli.spec import DATA_MODELS
from gradcli.usercode import UserCodeFailed, describe, user_code


def build(
    name: str, data: DataSet, *, seed: int, dtype: torch.dtype, device: torch.device
) -> nn.Module:
    """The network ``--model`` names, for ``data``: parameters drawn from ``seed`` on the
    CPU, then moved to the device and dtype; a user's checked on two samples."""
    torch.manual_seed(seed)
    if ":" not in name:
        return architecture(name, data).to(device=device, dtype=dtype)
    model = user_model(name).to(device=device, dtype=dtype)
    check_outputs(name, model, data)
    return model


def architecture(name: str, data: DataSet) -> nn.Module:
    """A fresh built-in architecture sized for ``data`` (parameters drawn from torch's
    global generator: the caller seeds it)."""
    inputs, outputs = math.prod(data.shape), data.outputs
    if name == "linear":
        return nn.Sequential(
            OrderedDict([("flatten", nn.Flatten()), ("linear", nn.Linear(inputs, outputs))])
        )
    if name == "mlp":
        return nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("hidden1", nn.Linear(inputs, 64)),
                    ("relu1", nn.ReLU()),
                    ("hidden2", nn.Linear(64, 64)),
                    ("relu2", nn.ReLU()),
                    ("output", nn.Linear(64, outputs)),
                ]
            )
        )
    if name == "cnn":
        if not data.images:
            raise GradcliError(
                f"--model cnn: needs images (--data digits, mnist, fashion-mnist); {data.name} "
                f"has samples of shape {list(data.shape)}; use --model mlp or linear"
            )
        channels, height, width = data.shape
        if height < 4 or width < 4:
            raise GradcliError(f"--model cnn: images of {height}×{width} are too small (≥ 4×4)")
        return nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(channels, 16, 3, padding=1)),
                    ("relu1", nn.ReLU()),
                    ("pool1", nn.MaxPool2d(2)),
                    ("conv2", nn.Conv2d(16, 32, 3, padding=1)),
                    ("relu2", nn.ReLU()),
                    ("pool2", nn.MaxPool2d(2)),
                    ("flatten", nn.Flatten()),
                    ("output", nn.Linear(32 * (height // 4) * (width // 4), outputs)),
                ]
            )
        )
    names = ", ".join(DATA_MODELS)
    raise GradcliError(
        f"--model {name}: not an architecture for --data; choose one of: {names}, "
        "or file.py:factory / module:factory (an nn.Module whose forward(x) returns outputs)"
    )


def check_outputs(target: str, model: nn.Module, data: DataSet) -> None:
    """``forward(x)`` on two training samples returns ``[2, outputs]`` floats that need grad."""
    fail = f"--model {target}"
    with user_code(f"{fail}: copying the model (copy.deepcopy, to try forward(x) on)"):
        probe = copy.deepcopy(model)
    param = next(probe.parameters(), None)
    x = data.x_train[:2].to(
        dtype=param.dtype if param is not None and param.is_floating_point() else torch.float32,
        device=param.device if param is not None else "cpu",
    )
    try:
        with user_code(f"{fail}: forward(x)"):
            out = probe(x)
    except UserCodeFailed as e:
        if isinstance(e.__context__, TypeError) and "argument" in str(e.__context__):
            raise GradcliError(
                f"{fail}: with --data, forward(x) takes a batch of inputs and returns outputs "
                f"({describe(e.__context__)})"
            ) from None
        raise
    want = [2, data.outputs]
    if not isinstance(out, Tensor):
        raise GradcliError(f"{fail}: forward(x) returned {type(out).__name__}, not a tensor")
    if list(out.shape) != want:
        what = f"{data.outputs} classes" if data.task == CLASSIFICATION else "targets"
        raise GradcliError(
            f"{fail}: forward(x) on a batch of 2 inputs of shape {list(data.shape)} returned "
            f"shape {list(out.shape)}; {data.name} needs {want} (one output per {what})"
        )
    if not out.is_floating_point() or not out.requires_grad:
        raise GradcliError(
            f"{fail}: forward(x) must return floating-point outputs that depend on the "
            "parameters (requires_grad)"
        )
