"""Each torch quirk the hand-written SGD repeats, named and checked against torch.optim.SGD."""

from __future__ import annotations

import torch
from helpers import bits

from gradcli.optimizers.sgd import SGD, sgd


def step_both(grads: list[torch.Tensor], **hyper):
    """Apply ``grads`` one per step with gradcli's rule and with torch.optim.SGD."""
    mine = torch.tensor([1.0, -2.0, 0.5])
    theirs = torch.nn.Parameter(mine.clone())
    state: dict[str, torch.Tensor] = {}
    optimizer = torch.optim.SGD([theirs], **hyper)
    for grad in grads:
        with torch.no_grad():
            sgd([mine], [grad], [state], **{**SGD.defaults, **hyper})
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


def run_rule(rule, grads, **hyper):
    """Apply ``grads`` one per step with a gradcli rule and with the torch.optim twin."""
    from gradcli.optimizers import catalog

    described = catalog()[rule.__name__]
    mine = torch.tensor([1.0, -2.0, 0.5])
    theirs = torch.nn.Parameter(mine.clone())
    state: dict[str, torch.Tensor] = {}
    full = {**described.defaults, **hyper}
    lr = full.pop("lr")
    optimizer = getattr(torch.optim, described.torch_class)([theirs], lr=lr, **full)
    for grad in grads:
        with torch.no_grad():
            rule([mine], [grad], [state], lr=lr, **full)
        theirs.grad = grad.clone()
        optimizer.step()
    assert torch.equal(bits(mine), bits(theirs))
    for key, value in optimizer.state[theirs].items():
        assert torch.equal(bits(state[key]), bits(value)), key
    return mine, state


def test_adam_adds_eps_after_the_bias_correction():
    from gradcli.optimizers.adam import adam

    theta0 = torch.tensor([1.0, -2.0, 0.5])
    eps, lr = 0.1, 0.01
    mine, state = run_rule(adam, [G1], lr=lr, eps=eps)
    # step 1: m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g²  →  θ − lr·g/(|g| + ε)
    eps_after = theta0 - lr * G1 / (G1.abs() + eps)  # m̂ / (√v̂ + ε)
    eps_before = theta0 - lr * G1 / (
        ((0.001 * G1**2).sqrt() + eps) / 0.001**0.5
    )  # m̂·√(1−β2)/(√v + ε)
    assert torch.allclose(mine, eps_after, rtol=0, atol=1e-6)
    assert not torch.allclose(mine, eps_before, rtol=0, atol=1e-4)
    assert torch.equal(state["step"], torch.tensor(1.0))


def test_adam_first_moment_is_a_lerp_not_the_textbook_sum():
    """exp_avg.lerp_(g, 1 − β1) rounds differently from β1·m + (1 − β1)·g."""
    m = torch.linspace(-1, 1, 1001)
    g = torch.linspace(3, -2, 1001)
    lerp = m.clone().lerp_(g, 1 - 0.9)
    textbook = 0.9 * m + (1 - 0.9) * g
    assert torch.allclose(lerp, textbook, rtol=1e-6, atol=1e-6)
    assert not torch.equal(lerp, textbook)  # same math, other last bits


def test_adamw_decay_is_decoupled_from_the_moments():
    from gradcli.optimizers.adam import adam, adamw

    _, coupled = run_rule(adam, [G1], lr=0.1, weight_decay=0.5)
    mine, decoupled = run_rule(adamw, [G1], lr=0.1, weight_decay=0.5)
    theta0 = torch.tensor([1.0, -2.0, 0.5])
    # AdamW's moments see the bare gradient; Adam's see g + λθ.
    assert torch.equal(decoupled["exp_avg"], torch.zeros(3).lerp_(G1, 0.1))
    assert torch.equal(coupled["exp_avg"], torch.zeros(3).lerp_(G1 + 0.5 * theta0, 0.1))
    # and the parameter was shrunk by (1 − lr·λ) before the Adam step
    shrunk = theta0 * (1 - 0.1 * 0.5)
    assert torch.allclose(mine, shrunk - 0.1 * G1 / (G1.abs() + 1e-8), atol=1e-6)


def test_adagrad_lr_decays_as_lr_over_one_plus_t_minus_one_times_decay():
    from gradcli.optimizers.adagrad import adagrad

    lr, decay = 0.5, 0.25
    mine, state = run_rule(adagrad, [G1, G1, G1], lr=lr, lr_decay=decay)
    theta = torch.tensor([1.0, -2.0, 0.5])
    total = torch.zeros(3)
    for t in (1, 2, 3):
        total = total + G1 * G1
        theta = theta - lr / (1 + (t - 1) * decay) * G1 / (total.sqrt() + 1e-10)
    assert torch.allclose(mine, theta, atol=1e-6)
    assert torch.equal(state["sum"], total)
    assert state["step"].item() == 3


def test_rmsprop_centered_with_momentum_matches_torch():
    from gradcli.optimizers.rmsprop import rmsprop

    _, state = run_rule(rmsprop, [G1, G2, G1], lr=0.01, centered=True, momentum=0.5)
    assert set(state) == {"step", "square_avg", "momentum_buffer", "grad_avg"}


def test_adam_amsgrad_keeps_the_running_maximum():
    from gradcli.optimizers.adam import adam

    _, state = run_rule(adam, [G2 * 100, G1], lr=0.01, amsgrad=True)
    assert torch.equal(
        state["max_exp_avg_sq"], torch.maximum(state["max_exp_avg_sq"], state["exp_avg_sq"])
    )
    assert (state["max_exp_avg_sq"] > state["exp_avg_sq"]).all()
