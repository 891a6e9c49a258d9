"""The quirks of Adafactor and Muon that the hand-written rules repeat, named and checked
against torch.optim.Adafactor and torch.optim.Muon directly; and how gradcli splits a
model's parameters between Muon (2-D) and AdamW (the rest)."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import bits

from gradcli.optimizers import catalog
from gradcli.optimizers.adafactor import adafactor
from gradcli.optimizers.muon import COEFFICIENTS, MUON, adjusted_lr, muon, newton_schulz
from gradcli.spec import RunSpec
from gradcli.train.setup import prepare


def run_both(rule, shapes, steps=3, dtype=torch.float32, seed=0, **hyper):
    """``steps`` random gradients applied to parameters of ``shapes`` (one group) by a rule
    and by its torch.optim twin; both must agree bit for bit. Returns the rule's
    parameters and states, and the gradients used."""
    described = catalog()[rule.__name__]
    full = {**described.defaults, **hyper}
    lr = full.pop("lr", described.lr)
    gen = torch.Generator().manual_seed(seed)
    mine = [torch.randn(*s, generator=gen, dtype=dtype) for s in shapes]
    theirs = [torch.nn.Parameter(p.clone()) for p in mine]
    states: list[dict[str, torch.Tensor]] = [{} for _ in mine]
    optimizer = getattr(torch.optim, described.torch_class)(theirs, lr=lr, **full)
    grads = []
    for _ in range(steps):
        step_grads = [torch.randn(*s, generator=gen, dtype=dtype) for s in shapes]
        grads.append(step_grads)
        with torch.no_grad():
            rule(mine, [g.clone() for g in step_grads], states, lr=lr, **full)
        for p, g in zip(theirs, step_grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    for p, q, state in zip(mine, theirs, states, strict=True):
        assert torch.equal(bits(p), bits(q))
        assert state.keys() == optimizer.state[q].keys()
        for key, value in optimizer.state[q].items():
            assert torch.equal(bits(state[key]), bits(value)), key
    return mine, states, grads


# --- Adafactor ----------------------------------------------------------------------------


def test_adafactor_keeps_row_and_column_means_for_a_matrix_and_a_full_variance_for_a_vector():
    _, (matrix, vector, cube), grads = run_both(adafactor, [(3, 4), (3,), (2, 3, 4)], steps=1)
    assert set(matrix) == {"step", "row_var", "col_var"}
    assert matrix["row_var"].shape == (3, 1) and matrix["col_var"].shape == (1, 4)
    assert set(vector) == {"step", "variance"} and vector["variance"].shape == (3,)
    # more than 2 dimensions: factored over the last two, one factor pair per leading index
    assert cube["row_var"].shape == (2, 3, 1) and cube["col_var"].shape == (2, 1, 4)
    # at t = 1 the weight t^τ is 1: the state is the mean of g² along rows, columns
    g_matrix, g_vector, _ = grads[0]
    assert torch.allclose(matrix["row_var"], (g_matrix**2).mean(dim=-1, keepdim=True))
    assert torch.allclose(matrix["col_var"], (g_matrix**2).mean(dim=-2, keepdim=True))
    assert torch.equal(vector["variance"], g_vector * g_vector)


def test_adafactor_mean_of_squares_is_the_squared_norm_over_n_not_the_mean_of_g_squared():
    """torch computes ‖g‖²/n along a row (no g² intermediate): other last bits than
    (g·g).mean(), which the rule must repeat."""
    g = torch.randn(64, 64, generator=torch.Generator().manual_seed(3))
    by_norm = torch.norm(g, dim=-1, keepdim=True).square_().div_(g.size(-1))
    assert torch.allclose(by_norm, (g * g).mean(dim=-1, keepdim=True))
    assert not torch.equal(by_norm, (g * g).mean(dim=-1, keepdim=True))
    run_both(adafactor, [(64, 64)], steps=2)


def test_adafactor_beta2_schedule_is_one_minus_t_to_the_decay():
    """β̂2 = 1 − t^τ: the second moment is a lerp towards g² with weight t^τ (1 at t = 1,
    so there is no bias correction to make)."""
    tau = -0.5
    _, (state,), grads = run_both(adafactor, [(5,)], steps=3, beta2_decay=tau)
    expected = torch.zeros(5)
    for t, (g,) in enumerate(grads, start=1):
        expected.lerp_(g * g, t**tau)
    assert torch.equal(state["variance"], expected)
    assert torch.equal(state["step"], torch.tensor(3.0))
    # τ = 0: β̂2 = 0, the variance is the last g² alone
    _, (state,), grads = run_both(adafactor, [(5,)], steps=3, beta2_decay=0.0)
    assert torch.equal(state["variance"], grads[-1][0] ** 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adafactor_eps1_none_is_the_machine_epsilon_of_the_dtype(dtype):
    """A tiny gradient meets the floor ε1: u = g/max(√v, ε1). None is finfo(dtype).eps,
    so float32 and float64 runs floor at different values."""
    machine = torch.finfo(dtype).eps
    results = {}
    for eps1 in (None, machine, 1e-30):
        mine = torch.tensor([1.0, -2.0, 0.5], dtype=dtype)
        theirs = torch.nn.Parameter(mine.clone())
        grad = torch.tensor([1.0, 1e-20, -0.5], dtype=dtype)
        state: dict[str, torch.Tensor] = {}
        hyper = {"beta2_decay": -0.8, "eps": (eps1, 1e-3), "d": 1.0, "weight_decay": 0.0}
        with torch.no_grad():
            adafactor([mine], [grad], [state], lr=0.01, maximize=False, **hyper)
        optimizer = torch.optim.Adafactor([theirs], lr=0.01, **hyper)
        theirs.grad = grad.clone()
        optimizer.step()
        assert torch.equal(bits(mine), bits(theirs))
        results[eps1] = mine
    assert torch.equal(bits(results[None]), bits(results[machine]))
    assert not torch.equal(results[None], results[1e-30])  # the floor mattered


def test_adafactor_steps_relative_to_the_parameter_size():
    """At t = 1, v = g² so u = sign(g) and RMS(u) = 1: θ moves by RMS(θ)·min(lr, 1) against
    the sign of g, whatever the gradient's size."""
    (theta,), _, _ = run_both(adafactor, [(4,)], steps=1, seed=1, lr=0.05)
    gen = torch.Generator().manual_seed(1)
    theta0 = torch.randn(4, generator=gen)
    g = torch.randn(4, generator=gen)
    rms = theta0.norm() / 2
    assert torch.allclose(theta, theta0 - rms * 0.05 * g.sign(), atol=1e-6)


def test_adafactor_decay_uses_lr_and_alpha_uses_theta_before_it():
    _, _, _ = run_both(adafactor, [(3, 4), (4,)], steps=3, weight_decay=0.5, lr=0.1)
    _, _, _ = run_both(adafactor, [(3, 4), (4,)], steps=3, maximize=True, d=2.0)


def test_adafactor_foreach_rounds_unlike_its_for_loop_on_the_cpu():
    """torch.optim.Adafactor's foreach multiplies the update by its step size and then adds
    it; the for-loop (torch's default for Adafactor, even on CUDA) adds with alpha. Other
    last bits, same numbers: the rule repeats the for-loop."""
    gen = torch.Generator().manual_seed(9)
    start = torch.randn(16, 16, generator=gen)
    grad = torch.randn(16, 16, generator=gen)
    after = {}
    for foreach in (False, True):
        p = torch.nn.Parameter(start.clone())
        p.grad = grad.clone()
        torch.optim.Adafactor([p], foreach=foreach).step()
        after[foreach] = p.detach()
    assert not torch.equal(after[False], after[True])
    assert torch.allclose(after[False], after[True], rtol=1e-6, atol=1e-7)


# --- Muon ---------------------------------------------------------------------------------


def _band(coefficients, steps, smallest):
    """Where ``steps`` Newton–Schulz steps take singular values from [smallest, 1]."""
    a, b, c = coefficients
    sigma = torch.linspace(smallest, 1, 100_001, dtype=torch.float64)
    for _ in range(steps):
        sigma = a * sigma + b * sigma**3 + c * sigma**5
    return sigma.min().item(), sigma.max().item()


@pytest.mark.parametrize("shape", [(8, 16), (16, 8), (12, 12)])
def test_newton_schulz_is_nearly_orthogonal_within_the_coefficients_band(shape):
    """torch's quintic does not converge to 1: it leaves every singular value in a band
    (about [0.68, 1.13] for 5 steps), with G's singular vectors kept."""
    gen = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(shape[0], shape[0], generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(shape[1], shape[1], generator=gen, dtype=torch.float64))
    k = min(shape)
    spread = torch.logspace(0, -1.5, k, dtype=torch.float64)  # condition number ~30
    g = (u[:, :k] * spread) @ v[:, :k].T
    smallest = spread.min().item() / spread.norm().item()  # after the division by ‖G‖_F
    low, high = _band(COEFFICIENTS, 5, smallest)
    assert 0.6 < low < 0.75 and 1.05 < high < 1.2
    o = newton_schulz(g.float(), COEFFICIENTS, 5, 1e-7)
    assert o.dtype == torch.bfloat16 and o.shape == shape
    sigma = torch.linalg.svdvals(o.double())
    assert sigma.min() > low - 0.02 and sigma.max() < high + 0.02  # bfloat16's rounding
    # same singular vectors: Uᵀ·O·V is diagonal
    core = u[:, :k].T @ o.double() @ v[:, :k]
    off = core - torch.diag(torch.diagonal(core))
    assert off.abs().max() < 0.02
    # plain Newton–Schulz (15/8, −10/8, 3/8) does converge, slowly, towards 1
    slow = torch.linalg.svdvals(newton_schulz(g.float(), (1.875, -1.25, 0.375), 30, 1e-7).double())
    assert (slow - 1).abs().max() < 0.02


def test_newton_schulz_works_on_the_transpose_of_a_tall_matrix():
    g = torch.randn(16, 4, generator=torch.Generator().manual_seed(2))
    assert torch.equal(
        newton_schulz(g, COEFFICIENTS, 5, 1e-7), newton_schulz(g.T, COEFFICIENTS, 5, 1e-7).T
    )


@pytest.mark.parametrize("adjust_lr_fn", [None, "original", "match_rms_adamw"])
@pytest.mark.parametrize("shape", [(8, 2), (2, 8)])
def test_muon_scales_lr_per_matrix_shape(adjust_lr_fn, shape):
    """original (and None): lr·√max(1, p/q), so only tall matrices step further;
    match_rms_adamw: lr·0.2·√max(p, q), an update with AdamW's RMS."""
    lr = 0.02
    (theta,), (state,), ((g,),) = run_both(
        muon, [shape], steps=1, lr=lr, weight_decay=0.0, adjust_lr_fn=adjust_lr_fn
    )
    rows, cols = shape
    expected = {
        None: lr * math.sqrt(max(1, rows / cols)),
        "original": lr * math.sqrt(max(1, rows / cols)),
        "match_rms_adamw": lr * 0.2 * math.sqrt(max(rows, cols)),
    }[adjust_lr_fn]
    assert adjusted_lr(lr, adjust_lr_fn, shape) == pytest.approx(expected, rel=1e-15)
    theta0 = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    update = g.lerp(state["momentum_buffer"], 0.95)  # nesterov, torch's default
    o = newton_schulz(update, COEFFICIENTS, 5, 1e-7)
    assert torch.equal(theta, theta0.add(o, alpha=-adjusted_lr(lr, adjust_lr_fn, shape)))


def test_muon_momentum_is_a_lerp_not_the_sum_in_torchs_docstring():
    """torch's docstring says B ← μB + g; its code lerps: B ← μB + (1 − μ)g."""
    _, (state,), grads = run_both(muon, [(4, 6)], steps=2, nesterov=False)
    (g1,), (g2,) = grads
    lerped = torch.zeros(4, 6).lerp_(g1, 1 - 0.95).lerp_(g2, 1 - 0.95)
    assert torch.equal(state["momentum_buffer"], lerped)
    assert not torch.allclose(state["momentum_buffer"], 0.95 * g1 + g2)


def test_muon_weight_decay_is_decoupled_and_uses_the_unadjusted_lr():
    lr, decay = 0.1, 0.5
    (theta,), (state,), ((g,),) = run_both(muon, [(6, 2)], steps=1, lr=lr, weight_decay=decay)
    theta0 = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    o = newton_schulz(g.lerp(state["momentum_buffer"], 0.95), COEFFICIENTS, 5, 1e-7)
    expected = theta0.mul(1 - lr * decay).add(o, alpha=-lr * math.sqrt(3))
    assert torch.equal(theta, expected)


def test_muon_keywords_against_torch():
    run_both(muon, [(5, 3), (3, 5)], steps=3, ns_steps=2, ns_coefficients=(2.0, -1.5, 0.5))
    run_both(muon, [(5, 3)], steps=3, momentum=0.5, eps=1e-3, adjust_lr_fn="match_rms_adamw")


def test_muon_refuses_100_newton_schulz_steps_as_torch_does():
    assert MUON.check is not None
    assert MUON.check({**MUON.defaults, "ns_steps": 100}) == (
        "ns_steps must be below 100 (torch's limit), got 100"
    )
    p = torch.nn.Parameter(torch.ones(2, 2))
    p.grad = torch.ones(2, 2)
    with pytest.raises(ValueError, match="less than 100"):
        torch.optim.Muon([p], ns_steps=100).step()


# --- the split: Muon for 2-D parameters, AdamW for the rest --------------------------------


def test_torch_muon_refuses_parameters_that_are_not_2d():
    with pytest.raises(ValueError, match="only supports 2D parameters"):
        torch.optim.Muon([torch.nn.Parameter(torch.ones(3))])


def test_muon_trains_matrices_and_adamw_the_rest_on_both_paths():
    spec = RunSpec(model="mlp", optimizer="muon", lr=0.05, steps=3, settings={"ns_steps": 3})
    optim, _ = prepare(spec, "optim")
    manual, _ = prepare(spec, "manual")
    names = {p: n for n, p in optim.problem.named_parameters()}
    muon_part, adamw_part = optim.update.optimizers
    assert isinstance(muon_part, torch.optim.Muon) and isinstance(adamw_part, torch.optim.AdamW)
    assert [names[p] for p in muon_part.param_groups[0]["params"]] == [
        "net.0.weight",
        "net.2.weight",
        "net.4.weight",
    ]
    assert [names[p] for p in adamw_part.param_groups[0]["params"]] == [
        "net.0.bias",
        "net.2.bias",
        "net.4.bias",
    ]
    assert muon_part.param_groups[0]["ns_steps"] == 3
    adamw = adamw_part.param_groups[0]
    assert adamw["lr"] == 0.05 and adamw["weight_decay"] == 0.01 and adamw["betas"] == (0.9, 0.999)
    assert [o.name for _, o, _ in manual.update.parts] == ["muon", "adamw"]
    for _ in zip(manual, optim, strict=True):
        pass
    for (name, mp), op in zip(
        manual.problem.named_parameters(), optim.problem.parameters(), strict=True
    ):
        assert torch.equal(bits(mp), bits(op)), name
        mine, theirs = manual.update.state[mp], optim.update.state[op]
        assert mine.keys() == theirs.keys()
        expected = {"momentum_buffer"} if mp.ndim == 2 else {"step", "exp_avg", "exp_avg_sq"}
        assert set(mine) == expected, name


def test_muon_on_a_model_without_matrices_is_adamw():
    spec = RunSpec(model="rosenbrock", optimizer="muon", lr=0.1, steps=20)
    optim, _ = prepare(spec, "optim")
    (only,) = optim.update.optimizers
    assert isinstance(only, torch.optim.AdamW)
    adamw, _ = prepare(RunSpec(model="rosenbrock", optimizer="adamw", lr=0.1, steps=20), "optim")
    for _ in zip(optim, adamw, strict=True):
        pass
    assert torch.equal(optim.problem.xy, adamw.problem.xy)


def test_muon_split_state_loads_back_by_index():
    """A checkpoint holds the state by parameter index; each part gets its own back."""
    spec = RunSpec(model="mlp", optimizer="muon", steps=2)
    first, _ = prepare(spec, "optim")
    for _ in first:
        pass
    params = list(first.problem.parameters())
    saved = {i: dict(first.update.state[p]) for i, p in enumerate(params)}
    second, _ = prepare(spec, "optim")
    second.update.load_state(saved)
    for i, p in enumerate(second.problem.parameters()):
        state = second.update.state[p]
        assert state.keys() == saved[i].keys()
        for key in state:
            assert torch.equal(state[key], saved[i][key])
