"""The quirks of NAdam, RAdam and Adamax that the hand-written rules repeat, each named and
checked against torch.optim directly (parameters and state, bit for bit, at every step)."""

from __future__ import annotations

import math

import torch
from helpers import bits

from gradcli.optimizers import catalog
from gradcli.optimizers.adamax import adamax
from gradcli.optimizers.nadam import nadam
from gradcli.optimizers.radam import radam

THETA = torch.tensor([1.0, -2.0, 0.5])
G1 = torch.tensor([0.5, -1.0, 2.0])
G2 = torch.tensor([0.25, 3.0, -1.5])


def run_both(rule, grads, *, lr: float, dtype=torch.float32, **hyper):
    """Apply ``grads`` one per step with a gradcli rule and with its torch.optim twin; after
    every step the parameters and the state agree bit for bit. Returns the parameter after
    each step and both states."""
    described = catalog()[rule.__name__]
    full = {**described.defaults, **hyper}
    mine = THETA.to(dtype, copy=True)
    theirs = torch.nn.Parameter(mine.clone())
    state: dict[str, torch.Tensor] = {}
    optimizer = getattr(torch.optim, described.torch_class)([theirs], lr=lr, **full)
    trajectory = []
    for step, grad in enumerate(grads, start=1):
        grad = grad.to(dtype)
        with torch.no_grad():
            rule([mine], [grad], [state], lr=lr, **full)
        theirs.grad = grad.clone()
        optimizer.step()
        torch_state = optimizer.state[theirs]
        assert torch.equal(bits(mine), bits(theirs)), f"parameters differ at step {step}"
        assert list(state) == list(torch_state), "state keys (and their order) differ"
        for key, value in torch_state.items():
            assert state[key].dtype == value.dtype and state[key].device == value.device, key
            assert torch.equal(bits(state[key]), bits(value)), f"{key} differs at step {step}"
        trajectory.append(mine.clone())
    return trajectory, state, optimizer.state[theirs]


# --- NAdam ---------------------------------------------------------------------------------


def momentum_cache(t: int, beta1: float = 0.9, momentum_decay: float = 4e-3) -> float:
    return beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))


def test_nadam_momentum_schedule_warms_up_from_half_beta1_toward_beta1():
    mus = [momentum_cache(t) for t in (1, 10, 100, 1000, 10_000)]
    assert mus == sorted(mus)
    assert math.isclose(mus[0], 0.45, rel_tol=1e-3)  # ½·β1 at first
    assert math.isclose(momentum_cache(10**6), 0.9)  # β1 in the end
    # a larger momentum_decay warms up faster; 0 keeps μ_t = ½·β1 for ever
    assert momentum_cache(10, momentum_decay=0.1) > momentum_cache(10)
    assert momentum_cache(10**6, momentum_decay=0.0) == 0.45


def test_nadam_mu_product_is_the_running_product_of_mu_t_kept_in_a_scalar_tensor():
    grads = [G1, G2, G1, G2, G1]
    for momentum_decay in (4e-3, 0.1, 0.0):
        _, state, torch_state = run_both(nadam, grads, lr=0.01, momentum_decay=momentum_decay)
        product = torch.tensor(1.0)  # the same float32 CPU scalar, multiplied in place
        for t in range(1, len(grads) + 1):
            product *= momentum_cache(t, momentum_decay=momentum_decay)
        assert torch.equal(state["mu_product"], product)
        assert torch.equal(torch_state["mu_product"], product)
        assert state["mu_product"].dim() == 0 and state["mu_product"].device.type == "cpu"
        assert state["step"].item() == 5
        if momentum_decay == 0:
            assert math.isclose(state["mu_product"].item(), 0.45**5, rel_tol=1e-6)


def test_nadam_mu_product_stays_float32_in_a_float64_run_as_in_torch():
    """torch keeps step and mu_product in the default dtype, not the parameter's."""
    _, state, torch_state = run_both(nadam, [G1, G2, G1], lr=0.01, dtype=torch.float64)
    assert state["exp_avg"].dtype == torch.float64
    assert state["mu_product"].dtype == torch_state["mu_product"].dtype == torch.float32
    assert state["step"].dtype == torch.float32


def test_nadam_first_step_mixes_the_gradient_and_the_next_momentum():
    """Step 1 with momentum_decay 0 (μ_t = μ = ½·β1): m = (1 − β1)·g, d = |g| + ε, and
    θ ← θ − lr·(1 − μ)/(1 − μ)·g/d − lr·μ/(1 − μ²)·m/d."""
    lr, eps, mu = 0.1, 1e-8, 0.45
    (theta,), state, _ = run_both(nadam, [G1], lr=lr, momentum_decay=0.0)
    d = G1.abs() + eps
    expected = THETA - lr * G1 / d - lr * mu / (1 - mu * mu) * (0.1 * G1) / d
    assert torch.allclose(theta, expected, rtol=0, atol=1e-6)
    assert torch.equal(state["exp_avg"], torch.zeros(3).lerp_(G1, 1 - 0.9))


def test_nadam_divides_v_by_its_bias_correction_before_the_square_root():
    """d = √(v/(1 − β2ᵗ)) + ε: with a large ε this differs from Adam's √v/√(1 − β2ᵗ) + ε
    only in rounding, but not from ε added before the correction."""
    eps = 0.5
    (theta,), _, _ = run_both(nadam, [G1], lr=0.1, eps=eps, momentum_decay=0.0)
    d = G1.abs() + eps  # √(0.001·g²/0.001) + ε
    expected = THETA - 0.1 * G1 / d - 0.1 * 0.45 / (1 - 0.45**2) * (0.1 * G1) / d
    assert torch.allclose(theta, expected, rtol=0, atol=1e-6)


def test_nadam_decoupled_weight_decay_keeps_the_decay_out_of_the_moments():
    _, coupled, _ = run_both(nadam, [G1], lr=0.1, weight_decay=0.5)
    (theta,), decoupled, _ = run_both(
        nadam, [G1], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True
    )
    assert torch.equal(decoupled["exp_avg"], torch.zeros(3).lerp_(G1, 0.1))
    assert torch.equal(coupled["exp_avg"], torch.zeros(3).lerp_(G1 + 0.5 * THETA, 0.1))
    (undecayed,), _, _ = run_both(nadam, [G1], lr=0.1)
    # θ·(1 − lr·λ) first, then the same NAdam step as without decay
    assert torch.allclose(theta, undecayed - THETA * 0.1 * 0.5, rtol=0, atol=1e-6)


def test_nadam_maximize_and_a_long_run_match_torch():
    run_both(nadam, [G1, G2] * 20, lr=0.01, maximize=True, weight_decay=0.01)
    run_both(nadam, [G1, G2] * 20, lr=0.01, betas=(0.5, 0.9), dtype=torch.float64)


# --- RAdam ---------------------------------------------------------------------------------


def rho(t: int, beta2: float = 0.999) -> float:
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * t * (beta2**t) / (1 - beta2**t)


def test_radam_rho_t_passes_5_at_step_6_with_torchs_beta2():
    assert [rho(t) > 5 for t in range(1, 9)] == [False] * 5 + [True] * 3
    assert math.isclose(rho(1), 1.0)  # step 1 is never rectified, whatever β2
    assert math.isclose(rho(10**6), 2 / (1 - 0.999) - 1)  # ρ_t tends to ρ∞


def test_radam_switches_from_momentum_steps_to_rectified_adaptive_steps():
    """Both branches, step by step: while ρ_t <= 5 the update is lr·m̂ exactly (no √v, no
    ε); from step 6 on it is lr·m̂·√(1 − β2ᵗ)/(√v + ε)·r, as torch computes it."""
    lr, grads = 0.01, [G1, G2, G1, G2, G1, G2, G1, G2]
    trajectory, _, _ = run_both(radam, grads, lr=lr)
    m, v, before = torch.zeros(3), torch.zeros(3), THETA
    branches = []
    for t, (grad, after) in enumerate(zip(grads, trajectory, strict=True), start=1):
        m.lerp_(grad, 0.1)
        v.mul_(0.999).addcmul_(grad, grad, value=0.001)
        m_hat = m / (1 - 0.9**t)
        rho_inf, rho_t = 2 / (1 - 0.999) - 1, rho(t)
        if rho_t > 5:
            rect = (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
            adaptive = ((1 - 0.999**t) ** 0.5) / v.sqrt().add_(1e-8)
            expected = before.add(m_hat * lr * adaptive * rect, alpha=-1.0)
            branches.append("rectified")
        else:
            expected = before.add(m_hat * lr, alpha=-1.0)
            branches.append("momentum")
        assert torch.equal(bits(after), bits(expected)), t
        before = after
    assert branches == ["momentum"] * 5 + ["rectified"] * 3


def test_radam_eps_and_v_play_no_part_before_rectification():
    grads = [G1, G2, G1, G2, G1]
    plain, _, _ = run_both(radam, grads, lr=0.01)
    huge_eps, _, _ = run_both(radam, grads, lr=0.01, eps=10.0)
    assert all(torch.equal(a, b) for a, b in zip(plain, huge_eps, strict=True))
    sixth, _, _ = run_both(radam, [*grads, G2], lr=0.01)
    sixth_eps, _, _ = run_both(radam, [*grads, G2], lr=0.01, eps=10.0)
    assert not torch.equal(sixth[-1], sixth_eps[-1])  # step 6 is adaptive: ε counts


def test_radam_with_a_small_beta2_never_rectifies():
    """ρ∞ = 2/(1 − β2) − 1 <= 5 when β2 <= 2/3: RAdam is then momentum SGD on m̂ for ever."""
    grads = [G1, G2] * 10
    trajectory, _, _ = run_both(radam, grads, lr=0.01, betas=(0.9, 0.6))
    assert all(rho(t, 0.6) <= 5 for t in range(1, 21))
    m, theta = torch.zeros(3), THETA
    for t, grad in enumerate(grads, start=1):
        m.lerp_(grad, 0.1)
        theta = theta.add(m / (1 - 0.9**t) * 0.01, alpha=-1.0)
    assert torch.equal(bits(trajectory[-1]), bits(theta))


def test_radam_decoupled_weight_decay_keeps_the_decay_out_of_the_moments():
    _, coupled, _ = run_both(radam, [G1], lr=0.1, weight_decay=0.5)
    (theta,), decoupled, _ = run_both(
        radam, [G1], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True
    )
    assert torch.equal(decoupled["exp_avg"], torch.zeros(3).lerp_(G1, 0.1))
    assert torch.equal(coupled["exp_avg"], torch.zeros(3).lerp_(G1 + 0.5 * THETA, 0.1))
    # step 1 is a momentum step: θ·(1 − lr·λ) − lr·g
    assert torch.allclose(theta, THETA * (1 - 0.1 * 0.5) - 0.1 * G1, rtol=0, atol=1e-6)


def test_radam_maximize_and_float64_runs_match_torch():
    run_both(radam, [G1, G2] * 20, lr=0.01, maximize=True, weight_decay=0.01)
    run_both(radam, [G1, G2] * 20, lr=0.01, betas=(0.5, 0.99), dtype=torch.float64)


# --- Adamax --------------------------------------------------------------------------------


def test_adamax_exp_inf_is_a_decaying_max_of_abs_g_plus_eps():
    eps = 0.5
    _, state, _ = run_both(adamax, [G1, G2], lr=0.01, eps=eps)
    first = G1.abs() + eps  # u starts at 0: the first max is |g| + ε
    expected = torch.maximum(first.mul(0.999), G2.abs() + eps)
    assert torch.equal(state["exp_inf"], expected)
    # the first and last elements kept their decayed old maximum, the second took |g| + ε
    assert state["exp_inf"][0] == first[0] * 0.999 and state["exp_inf"][2] == first[2] * 0.999
    assert state["exp_inf"][1] == 3.0 + eps


def test_adamax_eps_is_inside_the_max_so_a_zero_gradient_is_safe():
    zero = torch.zeros(3)
    (theta,), state, _ = run_both(adamax, [zero], lr=0.01, eps=1e-8)
    assert torch.equal(state["exp_inf"], torch.full((3,), 1e-8))
    assert torch.equal(theta, THETA)  # m/u = 0/ε, not 0/0
    _, state, _ = run_both(adamax, [zero], lr=0.01, eps=0.0)
    assert state["exp_inf"].eq(0).all()  # ε = 0: u = 0, and 0/0 is NaN, in torch too


def test_adamax_bias_corrects_only_the_learning_rate():
    """u is not bias-corrected: η = lr/(1 − β1ᵗ) and θ ← θ − η·m/u. At step 1
    m = (1 − β1)·g and u = |g| + ε, so the step is lr·g/(|g| + ε) ≈ lr·sign(g)."""
    lr = 0.1
    (theta, theta2), state, _ = run_both(adamax, [G1, G1], lr=lr)
    assert torch.allclose(theta, THETA - lr * G1 / (G1.abs() + 1e-8), rtol=0, atol=1e-7)
    # step 2 with the same g: m = (1 − β1²)·g, u = |g| + ε (β2·u is smaller), so the
    # bias-corrected step is lr again, not lr·√(1 − β2²)/... as Adam's v would make it
    assert torch.allclose(theta2, theta - lr * G1 / (G1.abs() + 1e-8), rtol=0, atol=1e-6)
    assert torch.equal(state["exp_inf"], G1.abs() + 1e-8)


def test_adamax_weight_decay_enters_the_gradient_and_maximize_ascends():
    _, state, _ = run_both(adamax, [G1], lr=0.1, weight_decay=0.5)
    assert torch.equal(state["exp_avg"], torch.zeros(3).lerp_(G1 + 0.5 * THETA, 0.1))
    (theta,), _, _ = run_both(adamax, [G1], lr=0.1, maximize=True)
    assert torch.allclose(theta, THETA + 0.1 * G1 / (G1.abs() + 1e-8), rtol=0, atol=1e-6)
    run_both(adamax, [G1, G2] * 20, lr=0.01, betas=(0.5, 0.9), dtype=torch.float64)


def test_the_state_is_created_at_the_first_step_as_torch_creates_it():
    for rule, keys in [
        (nadam, ["step", "mu_product", "exp_avg", "exp_avg_sq"]),
        (radam, ["step", "exp_avg", "exp_avg_sq"]),
        (adamax, ["step", "exp_avg", "exp_inf"]),
    ]:
        _, state, torch_state = run_both(rule, [G1], lr=0.01)
        assert list(state) == list(torch_state) == keys
        assert list(catalog()[rule.__name__].state) == keys
        assert state["step"].dim() == 0 and state["step"].device.type == "cpu"
