"""Step records: every number checked against torch computed directly, on each code path
(small tensors by element, mid-sized through segment_reduce, large ones on their own, and the
fallback when a parameter gets no gradient)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from gradcli.measure import SEGMENT_MAX, Recorder, measure
from gradcli.optimizers.sgd import SGD
from gradcli.records import SMALL, Stats
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


@pytest.mark.slow
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


class Lookups(nn.Module):
    """Sparse gradients (nn.Embedding(sparse=True)) of each size class, and a dense one."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.tiny = nn.Parameter(torch.randn(3))
        self.rows = nn.Embedding(20, 4, sparse=True)  # segment_reduce's size
        self.wide = nn.Embedding(SEGMENT_MAX // 4 + 3, 4, sparse=True)  # on its own
        self.register_buffer("indices", torch.tensor([1, 7, 7, 19, 2]))

    def forward(self) -> torch.Tensor:
        looked_up = self.rows(self.indices) * self.wide(self.indices * 50)
        return (looked_up.sum(dim=1) * self.tiny.sum()).pow(2).mean()


def test_sparse_gradients_are_recorded_as_their_dense_form():
    """measure() is the reference; the Recorder takes its path for a sparse gradient. Both
    show a sparse gradient as the dense tensor it stands for (duplicates summed)."""
    model = Lookups()
    names = [n for n, _ in model.named_parameters()]
    params = list(model.parameters())
    loss = model()
    loss.backward()
    grads = [p.grad for p in params]
    assert [g.is_sparse for g in grads] == [False, True, True]
    before = [p.detach().clone() for p in params]
    recorder = Recorder(names, params)
    snapshot = recorder.snapshot()
    with torch.no_grad():
        for p in params:
            p.add_(p.grad, alpha=-0.1)
    plain = measure(1, names, params, loss=loss, grads=grads, before=before)
    assert recorder.measure(1, loss, grads, snapshot) == plain
    for p, grad in zip(plain.params, grads, strict=True):
        dense = grad.to_dense()
        if dense.numel() <= SMALL:
            assert p.grad == tuple(dense.double().tolist())
        else:
            assert (p.grad.norm, p.grad.mean, p.grad.min, p.grad.max) == pytest.approx(
                stats(dense), rel=1e-6
            )
    assert plain.params[1].grad.min < 0 < plain.params[1].grad.max  # (zeros between)


def test_state_of_every_kind_is_recorded_alike_on_both_paths():
    """Tensors (a sparse one dense), Python numbers (SparseAdam's step, LBFGS's counters)
    and lists (LBFGS's history: their items one after another, None left out)."""
    model = Mixed()
    names = [n for n, _ in model.named_parameters()]
    params = list(model.parameters())
    loss = model()
    loss.backward()
    grads = [p.grad for p in params]
    before = [p.detach().clone() for p in params]
    states = [
        {"n_iter": 3, "t": 0.5, "ro": [torch.tensor(2.0), torch.tensor(4.0)], "al": [None]},
        {"d": torch.ones(40, 30).to_sparse(), "old_dirs": [torch.ones(2), torch.zeros(3)]},
        {},
    ]
    plain = measure(1, names, params, loss=loss, grads=grads, before=before, states=states)
    recorder = Recorder(names, params)
    fast = recorder.measure(1, loss, grads, recorder.snapshot(), states)
    assert [p.state for p in fast.params] == [p.state for p in plain.params]
    first, second, _ = plain.params
    assert first.state == {"n_iter": (3.0,), "t": (0.5,), "ro": (2.0, 4.0), "al": ()}
    assert second.state["d"] == Stats(math.sqrt(1200), 1.0, 1.0, 1.0)
    assert second.state["old_dirs"] == (1.0, 1.0, 0.0, 0.0, 0.0)


def test_a_parameter_given_new_storage_or_transposed_is_still_recorded_as_it_is():
    """The Recorder keeps flat views of the small parameters from step to step; a parameter
    whose storage is replaced (``param.data = ...``) or that is not contiguous is read as it
    is now: the record equals a new Recorder's, bit for bit."""
    model = Mixed()
    names = [name for name, _ in model.named_parameters()]
    params = list(model.parameters())
    kept = Recorder(names, params)

    def both(step: int) -> tuple:
        model.zero_grad()
        loss = model()
        loss.backward()
        grads = [p.grad for p in params]
        fresh = Recorder(names, params)
        snapshots = kept.snapshot(), fresh.snapshot()
        with torch.no_grad():
            for p in params:
                p.mul_(0.5)
        return (
            kept.measure(step, loss, grads, snapshots[0]),
            fresh.measure(step, loss, grads, snapshots[1]),
        )

    old, new = both(1)
    assert old == new
    model.mid.data = torch.full((40, 30), 3.0)  # new storage: the old views would read stale
    old, new = both(2)
    assert old == new and old.params[1].value.max == 1.5  # 3 × 0.5
    model.mid.data = torch.full((30, 40), 7.0).t()  # not contiguous: its flat form is a copy
    for step in (3, 4):
        old, new = both(step)
        assert old == new
    assert old.params[1].value.max == 7.0 * 0.25


SPECIALS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e30, -1e-30, 3e38]


@st.composite
def tensors_of_a_step(draw):
    """Parameters (their values before and after an update) and gradients of every size
    class, float32 or float64, with NaN, infinities, signed zeros and huge values put in."""
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    sizes = draw(
        st.lists(
            st.one_of(
                st.integers(1, SMALL),
                st.integers(SMALL + 1, 300),
                st.integers(SEGMENT_MAX + 1, SEGMENT_MAX + 64),
            ),
            min_size=1,
            max_size=5,
        )
    )
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))

    def tensor(n: int) -> torch.Tensor:
        scale = 10.0 ** draw(st.integers(-20, 20))
        t = (torch.randn(n, generator=gen, dtype=torch.float64) * scale).to(dtype)
        for where, value in draw(
            st.lists(
                st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from(SPECIALS)), max_size=3
            )
        ):
            t[int(where * n)] = value
        return t

    before = [tensor(n) for n in sizes]
    after = [tensor(n) for n in sizes]
    grads = [tensor(n) for n in sizes]
    return before, after, grads


def spelled(record) -> list:
    """A record's numbers as text (so NaN equals NaN and -0.0 differs from 0.0)."""
    return [repr(x) for x in _flatten(record)]


def _flatten(obj) -> list:
    if isinstance(obj, tuple | list):
        return [x for item in obj for x in _flatten(item)]
    if hasattr(obj, "__dataclass_fields__"):
        return [x for f in obj.__dataclass_fields__ for x in _flatten(getattr(obj, f))]
    return [obj]


@settings(max_examples=60, deadline=None)
@given(tensors_of_a_step())
def test_fast_recorder_equals_plain_measure_bit_for_bit(step):
    """The fast recorder (segments, buffers, one host copy) and the plain measure() give the
    same bits for every number, whatever the sizes, dtype and values (NaN, ±inf, ±0 too)."""
    before, after, grads = step
    params = [nn.Parameter(t.clone()) for t in before]
    names = [f"p{i}" for i in range(len(params))]
    recorder = Recorder(names, list(params))
    snapshot = recorder.snapshot()
    with torch.no_grad():
        for p, t in zip(params, after, strict=True):
            p.copy_(t)
    loss = torch.tensor(1.5, dtype=before[0].dtype)
    fast = recorder.measure(1, loss, list(grads), snapshot)
    plain = measure(1, names, list(params), loss=loss, grads=list(grads), before=before)
    assert spelled(fast) == spelled(plain)
