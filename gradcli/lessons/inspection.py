"""``gradcli params``: what a module registers, found by doing things to copies of it.

Every column beyond the tensor's own attributes comes from an experiment on a fresh deep copy
of the model: look it up in ``parameters()``, ``buffers()``, ``state_dict()``; convert the copy
with ``.to(torch.float64)``; run ``forward()`` and ``backward()``; take one optimizer step.
Nothing is read from a table of what torch is supposed to do.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

KINDS = (
    "Parameter",
    "frozen Parameter",
    "persistent buffer",
    "non-persistent buffer",
    "plain tensor attribute",
)


class Demo(nn.Module):
    """One tensor of each kind a module can hold, all used by ``forward()``."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(7)
        self.linear = nn.Linear(3, 1)  # Parameters: linear.weight, linear.bias
        self.scale = nn.Parameter(torch.tensor([2.0]), requires_grad=False)  # frozen
        self.register_buffer("running_mean", torch.zeros(3))  # saved, not trained
        self.register_buffer("x", torch.randn(8, 3, generator=gen), persistent=False)
        self.offset = torch.tensor([0.5])  # a plain attribute: the module does not know it

    def forward(self) -> Tensor:
        if self.training:  # a running statistic, updated in forward like BatchNorm's
            with torch.no_grad():
                self.running_mean.lerp_(self.x.mean(dim=0), 0.1)
        prediction = self.linear(self.x) * self.scale + self.offset
        return ((prediction - self.x.sum(dim=1, keepdim=True)) ** 2).mean()


@dataclass(frozen=True)
class TensorRow:
    name: str
    kind: str
    shape: tuple[int, ...]
    dtype: str
    requires_grad: bool
    is_leaf: bool
    in_parameters: bool
    in_buffers: bool
    in_state_dict: bool
    converted_by_to_float64: bool
    grad_after_backward: bool
    changed_by_forward: bool
    changed_by_step: bool


def held_tensors(model: nn.Module) -> list[tuple[str, str, Tensor]]:
    """(name, kind, tensor) for every tensor the model holds, registered or not."""
    found = []
    for prefix, module in model.named_modules():
        dot = f"{prefix}." if prefix else ""
        for name, param in module._parameters.items():
            if param is not None:
                kind = "Parameter" if param.requires_grad else "frozen Parameter"
                found.append((dot + name, kind, param))
        for name, buffer in module._buffers.items():
            if buffer is not None:
                persistent = name not in module._non_persistent_buffers_set
                found.append(
                    (
                        dot + name,
                        "persistent buffer" if persistent else "non-persistent buffer",
                        buffer,
                    )
                )
        for name, value in vars(module).items():
            if isinstance(value, Tensor) and not name.startswith("_"):
                found.append((dot + name, "plain tensor attribute", value))
    return found


def _lookup(model: nn.Module, name: str) -> Tensor:
    *path, last = name.split(".")
    module = model
    for part in path:
        module = getattr(module, part)
    return getattr(module, last)


def _snapshot(model: nn.Module, names: list[str]) -> dict[str, Tensor]:
    return {name: _lookup(model, name).detach().clone() for name in names}


def _same(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool(torch.equal(a, b))


def inspect_model(model: nn.Module, lr: float = 0.1) -> list[TensorRow]:
    """One row per tensor of ``model``; ``model`` itself is left untouched."""
    held = held_tensors(model)
    names = [name for name, _, _ in held]
    parameters = {id(p) for p in model.parameters()}
    buffers = {id(b) for b in model.buffers()}
    state_keys = set(model.state_dict())

    converted = copy.deepcopy(model).to(torch.float64)

    trained = copy.deepcopy(model)
    trained.train()
    optimizer = torch.optim.SGD(
        [p for p in trained.parameters() if p.requires_grad] or [nn.Parameter(torch.zeros(1))],
        lr=lr,
    )
    start = _snapshot(trained, names)
    optimizer.zero_grad()
    trained().backward()
    after_forward = _snapshot(trained, names)
    grads = {name: _lookup(trained, name).grad is not None for name in names}
    optimizer.step()
    after_step = _snapshot(trained, names)

    rows = []
    for name, kind, tensor in held:
        rows.append(
            TensorRow(
                name=name,
                kind=kind,
                shape=tuple(tensor.shape),
                dtype=str(tensor.dtype).removeprefix("torch."),
                requires_grad=tensor.requires_grad,
                is_leaf=tensor.is_leaf,
                in_parameters=id(tensor) in parameters,
                in_buffers=id(tensor) in buffers,
                in_state_dict=name in state_keys,
                converted_by_to_float64=_lookup(converted, name).dtype == torch.float64
                and tensor.dtype != torch.float64,
                grad_after_backward=grads[name],
                changed_by_forward=not _same(start[name], after_forward[name]),
                changed_by_step=not _same(after_forward[name], after_step[name]),
            )
        )
    return rows


def _names(rows: list[TensorRow]) -> str:
    return ", ".join(r.name for r in rows) or "none"


def claims(model: nn.Module, rows: list[TensorRow]) -> list[str]:
    """Sentences about torch, each checked just now (on live tensors or the table above)."""
    lines = []
    variable = torch.autograd.Variable(torch.ones(2))
    lines.append(
        f"torch.autograd.Variable(t) returns a {type(variable).__module__}."
        f"{type(variable).__name__} (type(v) is torch.Tensor: {type(variable) is torch.Tensor}):"
        " Variable has been a no-op since torch 0.4; requires_grad on a tensor is what matters."
    )
    parameter = nn.Parameter(torch.ones(1))
    lines.append(
        f"nn.Parameter is a Tensor subclass (isinstance(p, torch.Tensor): "
        f"{isinstance(parameter, torch.Tensor)}) with requires_grad={parameter.requires_grad} "
        "by default; assigning one to a module attribute registers it."
    )
    graded = [r for r in rows if r.grad_after_backward]
    stepped = [r for r in rows if r.changed_by_step]
    lines.append(
        f"backward() gave a gradient to: {_names(graded)}; optimizer.step() changed: "
        f"{_names(stepped)}."
    )
    by_kind = {kind: [r for r in rows if r.kind == kind] for kind in KINDS}
    if by_kind["frozen Parameter"]:
        frozen = by_kind["frozen Parameter"]
        saved = all(r.in_state_dict and r.in_parameters for r in frozen)
        lines.append(
            f"A frozen Parameter ({_names(frozen)}) is still in parameters() and "
            f"state_dict(): {saved}; it gets no gradient and the step leaves it alone."
        )
    if by_kind["persistent buffer"]:
        persistent = by_kind["persistent buffer"]
        in_forward = [r for r in persistent if r.changed_by_forward]
        line = (
            f"Persistent buffers ({_names(persistent)}) are saved in state_dict() and follow "
            ".to(), but no optimizer trains them"
        )
        if in_forward:
            line += f"; {_names(in_forward)} changed during forward() (a running statistic)"
        lines.append(line + ".")
    if by_kind["non-persistent buffer"]:
        lines.append(
            f"Non-persistent buffers ({_names(by_kind['non-persistent buffer'])}) follow "
            ".to() and buffers(), but state_dict() leaves them out."
        )
    if by_kind["plain tensor attribute"]:
        plain = by_kind["plain tensor attribute"]
        lines.append(
            f"A plain tensor attribute ({_names(plain)}) is invisible to the module: not in "
            "parameters(), buffers() or state_dict(); .to(torch.float64) left it "
            f"{plain[0].dtype}, and .to('cuda') would leave it on the CPU."
        )
    fresh = copy.deepcopy(model)
    loss = fresh()
    constant = next((b for b in fresh.buffers() if b.is_floating_point()), None)
    spread = (
        f"The loss requires grad ({loss.requires_grad}, grad_fn={type(loss.grad_fn).__name__})"
        " because it was computed from tensors that do"
    )
    if constant is not None:
        spread += (
            f"; a result of buffers alone does not ((b * 2).requires_grad: "
            f"{(constant * 2).requires_grad})"
        )
    lines.append(spread + ".")
    idle = copy.deepcopy(model)
    before = [p.detach().clone() for p in idle.parameters()]
    trainable = [p for p in idle.parameters() if p.requires_grad]
    if trainable:
        torch.optim.SGD(trainable, lr=0.1).step()  # no backward() first
        unchanged = all(torch.equal(a, b) for a, b in zip(before, idle.parameters(), strict=True))
        lines.append(
            "An optimizer computes no gradient: step() without backward() first left "
            f"every parameter unchanged: {unchanged}."
        )
    return lines
