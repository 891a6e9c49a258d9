"""Each torch quirk the hand-written SGD repeats, named and checked against torch.optim.SGD."""

from __future__ import annotations

import torch
from conftest import bits

from gradcli.rules import sgd


def step_both(grads: list[torch.Tensor], **hyper):
    """Apply ``grads`` one per step with gradcli's rule and with torch.optim.SGD."""
    mine = torch.tensor([1.0, -2.0, 0.5])
    theirs = torch.nn.Parameter(mine.clone())
    state: dict[str, torch.Tensor] = {}
    optimizer = torch.optim.SGD([theirs], **hyper)
    for grad in grads:
        with torch.no_grad():
            sgd([mine], [grad], [state], **hyper)
        theirs.grad = grad.clone()
        optimizer.step()
    return mine, state, theirs, optimizer.state[theirs]


G1 = torch.tensor([0.5, -1.0, 2.0])
G2 = torch.tensor([0.25, 3.0, -1.5])


def test_momentum_buffer_starts_at_the_first_gradient_not_zero():
    _, state, _, torch_state = step_both([G1], lr=0.1, momentum=0.9)
    assert torch.equal(state["momentum_buffer"], G1)  # not (1 - 0.9)·g, not 0
    assert torch.equal(torch_state["momentum_buffer"], G1)


def test_dampening_is_skipped_on_the_first_step_and_applied_after():
    _, state, _, torch_state = step_both([G1], lr=0.1, momentum=0.9, dampening=0.5)
    assert torch.equal(state["momentum_buffer"], G1)
    assert torch.equal(torch_state["momentum_buffer"], G1)
    _, state, _, torch_state = step_both([G1, G2], lr=0.1, momentum=0.9, dampening=0.5)
    expected = G1.clone().mul_(0.9).add_(G2, alpha=0.5)
    assert torch.equal(state["momentum_buffer"], expected)
    assert torch.equal(torch_state["momentum_buffer"], expected)


def test_no_momentum_keeps_no_state_like_torch():
    _, state, _, torch_state = step_both([G1, G2], lr=0.1)
    assert state == {} and dict(torch_state) == {}


def test_plain_step_is_param_minus_lr_times_grad():
    mine, _, theirs, _ = step_both([G1], lr=0.1)
    assert torch.equal(mine, torch.tensor([1.0, -2.0, 0.5]).add_(G1, alpha=-0.1))
    assert torch.equal(bits(mine), bits(theirs))


def test_weight_decay_is_added_to_the_gradient_before_momentum():
    mine, state, theirs, torch_state = step_both([G1, G2], lr=0.1, momentum=0.5, weight_decay=0.01)
    assert torch.equal(bits(mine), bits(theirs))
    assert torch.equal(state["momentum_buffer"], torch_state["momentum_buffer"])
    theta0 = torch.tensor([1.0, -2.0, 0.5])
    buf = G1.add(theta0, alpha=0.01)  # step 1: g + λθ₀ becomes the buffer
    theta1 = theta0.add(buf, alpha=-0.1)
    buf = buf.mul(0.5).add(G2.add(theta1, alpha=0.01))  # step 2: μ·b + (g + λθ₁)
    assert torch.equal(state["momentum_buffer"], buf)


def test_maximize_ascends():
    mine, _, theirs, _ = step_both([G1], lr=0.1, maximize=True)
    assert torch.equal(mine, torch.tensor([1.0, -2.0, 0.5]).add_(G1, alpha=0.1))
    assert torch.equal(bits(mine), bits(theirs))


def test_nesterov_looks_ahead_along_the_buffer():
    mine, state, theirs, _ = step_both([G1, G2], lr=0.1, momentum=0.9, nesterov=True)
    assert torch.equal(bits(mine), bits(theirs))
    buf = G1.clone().mul_(0.9).add_(G2)
    assert torch.equal(state["momentum_buffer"], buf)
