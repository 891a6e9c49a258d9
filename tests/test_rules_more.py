"""The torch quirks the hand-written Adadelta, ASGD and Rprop repeat, named and checked
against torch.optim directly, bit for bit at every step."""

from __future__ import annotations

import pytest
import torch
from helpers import bits

from gradcli.optimizers import catalog

THETA0 = torch.tensor([1.0, -2.0, 0.5])
G1 = torch.tensor([0.5, -1.0, 2.0])
G2 = torch.tensor([0.25, 3.0, -1.5])


def step_both(name: str, grads: list[torch.Tensor], theta0: torch.Tensor = THETA0, **hyper):
    """Apply ``grads`` one per step with gradcli's rule and with its torch.optim twin, and
    check after every step that parameters and state agree bit for bit, keys in order.
    Returns (θ, state) of the rule after each step."""
    described = catalog()[name]
    full = {**described.defaults, **hyper}
    lr = full.pop("lr", described.lr)
    mine = theta0.clone()
    theirs = torch.nn.Parameter(theta0.clone())
    state: dict[str, torch.Tensor] = {}
    optimizer = getattr(torch.optim, described.torch_class)([theirs], lr=lr, **full)
    history = []
    for grad in grads:
        with torch.no_grad():
            described.rule([mine], [grad], [state], lr=lr, **full)
        theirs.grad = grad.clone()
        optimizer.step()
        torch_state = optimizer.state[theirs]
        assert torch.equal(bits(mine), bits(theirs))
        assert list(state) == list(torch_state)  # the order the state is printed in
        for key, value in torch_state.items():
            assert state[key].dtype == value.dtype and state[key].device == value.device, key
            assert torch.equal(bits(state[key]), bits(value)), key
        history.append((mine.clone(), {k: v.clone() for k, v in state.items()}))
    return history


# --- Adadelta ----------------------------------------------------------------------------


def test_adadelta_first_step_is_root_eps_over_root_v_times_g():
    """u starts at zero, so the first step is √ε/√(v + ε)·g whatever the gradient's size:
    Adadelta starts slowly, and lr (torch's default 1) scales that."""
    rho, eps, lr = 0.9, 1e-6, 1.0
    [(theta, state)] = step_both("adadelta", [G1], lr=lr)
    v = (1 - rho) * G1**2
    delta = eps**0.5 / (v + eps).sqrt() * G1
    assert torch.allclose(theta, THETA0 - lr * delta, rtol=1e-6, atol=0)
    assert torch.allclose(state["acc_delta"], (1 - rho) * delta**2, rtol=1e-5, atol=0)
    assert state["step"].item() == 1 and state["step"].device.type == "cpu"


def test_adadelta_state_ignores_lr_the_running_step_is_taken_before_it():
    """u accumulates Δ², not (lr·Δ)²: with the same gradients the state is the same for
    any lr; only θ moves by lr·Δ."""
    slow = step_both("adadelta", [G1, G2, G1], lr=0.1)
    fast = step_both("adadelta", [G1, G2, G1], lr=10.0)
    for (theta_slow, state_slow), (theta_fast, state_fast) in zip(slow, fast, strict=True):
        for key in ("square_avg", "acc_delta"):
            assert torch.equal(state_slow[key], state_fast[key])
        assert not torch.equal(theta_slow, theta_fast)


def test_adadelta_eps_sits_under_both_roots():
    rho, eps = 0.5, 1e-2
    [(theta, _)] = step_both("adadelta", [G2], lr=1.0, rho=rho, eps=eps)
    inside = (eps**0.5) / ((1 - rho) * G2**2 + eps).sqrt() * G2
    outside = (eps**0.5) / (((1 - rho) * G2**2).sqrt() + eps) * G2
    assert torch.allclose(theta, THETA0 - inside, rtol=1e-6, atol=0)
    assert not torch.allclose(theta, THETA0 - outside, rtol=1e-3, atol=0)


def test_adadelta_weight_decay_and_maximize_match_torch():
    step_both("adadelta", [G1, G2, G1], lr=2.0, rho=0.8, weight_decay=0.1, maximize=True)


# --- ASGD --------------------------------------------------------------------------------


def test_asgd_average_is_a_copy_of_theta_until_t0_and_never_replaces_it():
    """With torch's t0 = 1e6, μ stays 1 and ax is θ copied each step: no averaging at all."""
    for theta, state in step_both("asgd", [G1, G2, G1, G2], lr=0.1):
        assert state["mu"].item() == 1
        assert torch.equal(bits(state["ax"]), bits(theta))


def test_asgd_averages_theta_from_step_t0_plus_2():
    """μ used at step t is 1/max(1, t − 1 − t0): with t0 = 0, ax = θ₁, θ₂, then the mean of
    θ₂..θ_t. The parameters stay the plain SGD iterates, not the average."""
    history = step_both("asgd", [G1, G2, G1, G2, G1], lr=0.1, t0=0.0)
    thetas = [theta for theta, _ in history]
    ax = history[-1][1]["ax"]
    assert torch.allclose(ax, torch.stack(thetas[1:]).mean(0), rtol=1e-6, atol=1e-7)
    assert not torch.allclose(ax, thetas[-1])


def test_asgd_eta_and_mu_are_recomputed_from_the_step_count():
    lr, lambd, alpha, t0 = 0.05, 0.5, 0.6, 2.0
    history = step_both("asgd", [G1, G2, G1, G2], lr=lr, lambd=lambd, alpha=alpha, t0=t0)
    for t, (_, state) in enumerate(history, start=1):
        # computed in Python floats, then rounded once into the float32 scalar
        assert state["eta"].item() == torch.tensor(lr / (1 + lambd * lr * t) ** alpha).item()
        assert state["mu"].item() == torch.tensor(1 / max(1, t - t0)).item()
        assert state["step"].item() == t


def test_asgd_lambd_shrinks_the_parameters_themselves():
    """With g = 0, θ still decays: θ ← θ·(1 − λ·η), η read back from its float32 scalar."""
    lr, lambd = 0.1, 0.5
    history = step_both("asgd", [torch.zeros(3)] * 3, lr=lr, lambd=lambd)
    theta, eta = THETA0.clone(), torch.tensor(lr).item()
    for t, (mine, _) in enumerate(history, start=1):
        theta = theta * (1 - lambd * eta)
        assert torch.allclose(mine, theta, rtol=1e-6, atol=0)
        eta = torch.tensor(lr / (1 + lambd * lr * t) ** 0.75).item()
    assert (history[-1][0].abs() < THETA0.abs()).all()


@pytest.mark.parametrize("default", [torch.float32, torch.float64])
def test_asgd_scalars_take_the_default_dtype_not_the_parameters(default):
    """step, eta and mu are scalar tensors of torch's scalar dtype (the default dtype's
    width), on the parameter's device; float64 parameters under a float32 default keep a
    float32 η, rounded before it scales the update."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(default)
    try:
        [(_, state)] = step_both("asgd", [G1.double()], THETA0.double(), lr=0.1, weight_decay=0.1)
    finally:
        torch.set_default_dtype(previous)
    for key in ("step", "eta", "mu"):
        assert state[key].dtype == default and state[key].dim() == 0
    assert state["ax"].dtype == torch.float64


def test_asgd_weight_decay_and_maximize_match_torch():
    step_both("asgd", [G1, G2, G1], lr=0.1, weight_decay=0.1, maximize=True, t0=1.0)


# --- Rprop -------------------------------------------------------------------------------


def test_rprop_no_step_where_the_sign_flipped_and_the_next_factor_is_one():
    """A flip shrinks Δ by η− and zeroes g there: θ stays, prev becomes 0, so at the next
    step g·prev = 0 and Δ keeps its size (no second shrink)."""
    lr = 0.01
    (theta1, _), (theta2, state2), (theta3, state3) = step_both("rprop", [G1, -G1, -G1], lr=lr)
    assert torch.equal(theta1, THETA0 - G1.sign() * lr)
    assert torch.equal(theta2, theta1)
    assert torch.equal(state2["prev"], torch.zeros(3))
    assert torch.equal(state2["step_size"], torch.full((3,), lr).mul_(0.5))
    assert torch.equal(state3["step_size"], state2["step_size"])
    assert torch.equal(theta3, theta2 + G1.sign() * state3["step_size"])


def test_rprop_step_grows_by_eta_plus_and_is_clamped():
    lr, high = 0.01, 0.02
    history = step_both("rprop", [G1] * 6, lr=lr, step_sizes=(1e-6, high))
    expected = torch.full((3,), lr)
    for t, (_, state) in enumerate(history, start=1):
        if t > 1:
            expected = expected.mul(1.2).clamp(1e-6, high)
        assert torch.equal(state["step_size"], expected)
    assert torch.equal(history[-1][1]["step_size"], torch.full((3,), high))


def test_rprop_step_size_never_shrinks_below_the_minimum():
    low = 4e-3
    grads = [G1, -G1, G1, -G1, G1]
    history = step_both("rprop", grads, lr=0.01, etas=(0.1, 1.5), step_sizes=(low, 1.0))
    assert torch.equal(history[-1][1]["step_size"], torch.full((3,), low))


def test_rprop_only_the_sign_of_the_gradient_moves_theta():
    small = step_both("rprop", [G1, G2, G2, G1], lr=0.01)
    large = step_both("rprop", [G1 * 1e4, G2 * 1e-4, G2, G1 * 7], lr=0.01)
    assert torch.equal(small[-1][0], large[-1][0])
    assert torch.equal(small[-1][1]["step_size"], large[-1][1]["step_size"])


def test_rprop_lr_is_only_the_first_step_size():
    """After the first step the rule ignores lr, as torch ignores a changed param_group lr."""
    described = catalog()["rprop"]
    full = {**described.defaults}
    mine, theirs = THETA0.clone(), torch.nn.Parameter(THETA0.clone())
    state: dict[str, torch.Tensor] = {}
    optimizer = torch.optim.Rprop([theirs], lr=0.01)
    for lr, grad in [(0.01, G1), (5.0, G1), (123.0, G2)]:
        optimizer.param_groups[0]["lr"] = lr
        with torch.no_grad():
            described.rule([mine], [grad], [state], lr=lr, **full)
        theirs.grad = grad.clone()
        optimizer.step()
        assert torch.equal(bits(mine), bits(theirs))
    assert state["step_size"].max().item() < 0.02


def test_rprop_maximize_keeps_the_negated_gradient_as_prev():
    history = step_both("rprop", [G1, G2], lr=0.01, maximize=True, etas=(0.3, 1.7))
    assert torch.equal(history[0][1]["prev"], -G1)
    assert torch.equal(history[0][0], THETA0 + G1.sign() * 0.01)


def test_rprop_refuses_etas_outside_torch_range_and_unordered_step_sizes():
    from gradcli.optimizers.catalog import Refused

    etas = catalog()["rprop"].hyperparameter("etas")
    sizes = catalog()["rprop"].hyperparameter("step_sizes")
    assert etas is not None and sizes is not None
    assert etas.check([0.4, 1.3]) == (0.4, 1.3)
    for wrong in [(0.0, 1.2), (1.0, 1.2), (0.5, 1.0), (0.5, 0.9), (1.5, 0.5)]:
        with pytest.raises(Refused):
            etas.check(wrong)
        with pytest.raises(ValueError):  # as torch does
            torch.optim.Rprop([torch.nn.Parameter(THETA0.clone())], etas=wrong)
    assert sizes.check((0.0, 0.0)) == (0.0, 0.0)
    with pytest.raises(Refused, match="min <= max"):
        sizes.check((1.0, 0.5))
