"""Step records: every number checked against torch computed directly, on each code path
(small tensors by element, mid-sized through segment_reduce, large ones on their own, and the
fallback when a parameter gets no gradient)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gradcli.optimizers.sgd import SGD
from gradcli.records import SEGMENT_MAX, SMALL, Stats
from gradcli.train.loop import Training
from gradcli.train.updates import ManualUpdate


class Mixed(nn.Module):
    def __init__(self, unused: bool = False) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.tiny = nn.Parameter(torch.randn(5, generator=gen))  # elements
        self.mid = nn.Parameter(torch.randn(40, 30, generator=gen))  # segment_reduce
        self.big = nn.Parameter(torch.randn(SEGMENT_MAX + 11, generator=gen))  # on its own
        if unused:
            self.idle = nn.Parameter(torch.ones(3))  # never in the loss: no gradient

    def forward(self) -> torch.Tensor:
        return (self.tiny.sum() * self.mid.tanh().mean() + (self.big**2).mean()) ** 2


def stats(t: torch.Tensor) -> tuple[float, float, float, float]:
    t = t.detach().double().reshape(-1)
    return (t.norm().item(), t.mean().item(), t.min().item(), t.max().item())


@pytest.mark.parametrize("unused", [False, True], ids=["fast-path", "fallback"])
def test_records_match_torch_on_every_path(unused):
    model = Mixed(unused)
    names = [n for n, _ in model.named_parameters()]
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    training = Training(
        model,
        ManualUpdate(
            list(model.parameters()),
            SGD,
            0.1,
            {
                "momentum": 0.0,
                "dampening": 0.0,
                "weight_decay": 0.0,
                "nesterov": False,
                "maximize": False,
            },
        ),
        steps=1,
        shows=lambda step: True,
    )
    reference = Mixed(unused)
    loss = reference()
    loss.backward()
    records = list(training)
    record = records[1]
    assert record.loss == loss.item()
    for p in record.params:
        ref = dict(reference.named_parameters())[p.name]
        after = dict(model.named_parameters())[p.name]
        if ref.grad is None:
            assert p.grad is None
            continue
        update = after.detach().double() - start[p.name].double()
        if ref.numel() <= SMALL:
            assert p.value == tuple(after.detach().double().tolist())
            assert p.grad == tuple(ref.grad.double().tolist())
            assert p.update == tuple(update.tolist())
        else:
            for got, want in ((p.value, after), (p.grad, ref.grad), (p.update, update)):
                assert isinstance(got, Stats)
                assert (got.norm, got.mean, got.min, got.max) == pytest.approx(
                    stats(want), rel=1e-5
                )
    assert names == [p.name for p in record.params]


def test_large_tensor_buffers_are_right_at_every_step():
    """The buffers that hold a large tensor's old value and update are reused: every step's
    record matches the step computed directly."""
    hyper = {"momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0}
    hyper |= {"nesterov": False, "maximize": False}
    model = Mixed()
    training = Training(
        model,
        ManualUpdate(list(model.parameters()), SGD, 0.1, hyper),
        steps=4,
        shows=lambda step: True,
    )
    records = list(training)[1:]
    reference = Mixed()
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for record in records:
        optimizer.zero_grad()
        reference().backward()
        before = reference.big.detach().clone()
        optimizer.step()
        (big,) = [p for p in record.params if p.name == "big"]
        update = reference.big.detach().double() - before.double()
        for got, want in ((big.value, reference.big), (big.grad, reference.big.grad)):
            assert (got.norm, got.mean, got.min, got.max) == pytest.approx(stats(want), rel=1e-5)
        assert (big.update.norm, big.update.mean, big.update.min, big.update.max) == (
            pytest.approx(stats(update), rel=1e-5)
        )
