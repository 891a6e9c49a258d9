"""LBFGS (a step that evaluates the loss itself) and sparse gradients (SparseAdam, the
``embedding`` problem, SGD and Adagrad's sparse branches): the quirks the hand-written rules
repeat, checked against torch.optim directly, and how the rest of gradcli copes."""

from __future__ import annotations

import importlib

import pytest
import torch
from helpers import jsonl
from hypothesis import given, settings
from lanes import fast_cases
from strategies import run_specs
from test_identity import assert_identical, assert_identical_or_diverged, assert_same_state
from torch import nn

from gradcli import problems
from gradcli.optimizers import catalog
from gradcli.optimizers.lbfgs import cubic_interpolate
from gradcli.spec import RunSpec

# --- LBFGS against torch.optim.LBFGS -------------------------------------------------------


class Valley(nn.Module):
    """A curved valley over two parameters, and a first parameter that gets no gradient:
    torch's LBFGS counts it in (zeros) and keeps its state on it."""

    def __init__(self) -> None:
        super().__init__()
        self.idle = nn.Parameter(torch.tensor([0.5, -0.5]))
        self.x = nn.Parameter(torch.tensor([-1.5, 2.0, 0.25]))
        self.y = nn.Parameter(torch.tensor([[1.0], [-1.0]]))

    def forward(self) -> torch.Tensor:
        x, y = self.x, self.y.reshape(-1)
        return (1 - x[0]) ** 2 + 10 * (x[1] - x[0] ** 2) ** 2 + (x[2] * y[0] - y[1]) ** 2


def lbfgs_both(steps: int, dtype: torch.dtype = torch.float32, **hyper) -> list[int]:
    """Step gradcli's rule and torch.optim.LBFGS side by side on two Valleys; after each step
    the parameters, the state (on the first parameter only) and the number of closure calls
    agree bit for bit. Returns the calls of each step."""
    described = catalog()["lbfgs"]
    full = {**described.defaults, **hyper}
    lr = full.pop("lr", described.lr)
    mine, theirs = Valley().to(dtype), Valley().to(dtype)
    params = list(mine.parameters())
    states: list[dict] = [{} for _ in params]
    optimizer = torch.optim.LBFGS(theirs.parameters(), lr=lr, **full)
    calls = {"mine": 0, "theirs": 0}

    def closure_of(model: nn.Module, who: str):
        def closure() -> torch.Tensor:
            calls[who] += 1
            for p in model.parameters():
                p.grad = None
            loss = model()
            loss.backward()
            return loss

        return closure

    counted = []
    for _ in range(steps):
        before = dict(calls)
        grads = [p.grad for p in params]
        with torch.no_grad():
            described.rule(params, grads, states, lr=lr, closure=closure_of(mine, "mine"), **full)
        optimizer.step(closure_of(theirs, "theirs"))
        assert calls["mine"] - before["mine"] == calls["theirs"] - before["theirs"]
        counted.append(calls["mine"] - before["mine"])
        for p, q in zip(mine.parameters(), theirs.parameters(), strict=True):
            assert_same_state(p.detach().clone(), q.detach().clone(), "θ")
        torch_states = [optimizer.state[q] for q in theirs.parameters()]
        assert [list(s) for s in states] == [list(s) for s in torch_states]  # keys, in order
        for state, torch_state in zip(states, torch_states, strict=True):
            for key in torch_state:
                assert_same_state(state[key], torch_state[key], key)
    assert states[0] and not any(states[1:])  # all of it on the first parameter
    return counted


@pytest.mark.parametrize("dtype", fast_cases([torch.float32, torch.float64]))
@pytest.mark.parametrize("line_search_fn", fast_cases([None, "strong_wolfe"]))
def test_lbfgs_repeats_torch_step_by_step(line_search_fn, dtype):
    """History of 2 pairs (the oldest forgotten), no tolerance to stop early: every branch
    of the two-loop recursion and of the line search runs."""
    calls = lbfgs_both(
        6,
        dtype,
        max_iter=6,
        history_size=2,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn=line_search_fn,
    )
    if line_search_fn is None:
        assert calls == [6] * 6


def test_lbfgs_without_a_line_search_does_not_evaluate_after_the_last_iteration():
    """max_iter iterations make max_iter evaluations, not max_iter + 1: the first, then one
    after each move but the last (torch: "no use to re-evaluate that function here")."""
    assert lbfgs_both(3, max_iter=4, tolerance_grad=0.0, tolerance_change=0.0) == [4, 4, 4]


def test_lbfgs_line_search_may_overshoot_max_eval_by_one():
    """The line search gets max_eval minus the evaluations so far as its limit, and makes its
    first trial before counting: a step can end one evaluation past max_eval (torch's)."""
    calls = lbfgs_both(4, max_iter=50, max_eval=7, line_search_fn="strong_wolfe")
    assert max(calls) == 8 and min(calls) == 7


@pytest.mark.parametrize("lr", [0.5, 1e3])
def test_lbfgs_first_step_is_minus_g_times_min_1_over_l1_norm_times_lr(lr):
    """The first iteration ever has no history: d = −g, t = min(1, 1/‖g‖₁)·lr."""
    lbfgs_both(1, max_iter=1, lr=lr)  # (bit for bit with torch)
    valley = Valley()
    valley().backward()
    theta = torch.cat([p.detach().reshape(-1) for p in valley.parameters()])
    g = torch.cat([torch.zeros(2), *[p.grad.reshape(-1) for p in list(valley.parameters())[1:]]])
    t = min(1.0, 1.0 / g.abs().sum().item()) * lr
    params = list(valley.parameters())
    hyper = {**catalog()["lbfgs"].defaults, "max_iter": 1}
    with torch.no_grad():  # (one iteration reads the gradients already there: no backward)
        catalog()["lbfgs"].rule(
            params, [p.grad for p in params], [{}, {}, {}], lr=lr, closure=valley, **hyper
        )
    moved = torch.cat([p.detach().reshape(-1) for p in valley.parameters()])
    assert torch.allclose(moved, theta - t * g, rtol=1e-6)


def test_lbfgs_stops_at_once_where_the_gradient_is_below_tolerance_grad(invoke):
    """One evaluation, no move, and only the counters in the state."""
    args = ["-m", "linear", "-o", "LBFGS(tolerance_grad=1e6)", "--steps", "2", "--state"]
    records = jsonl(invoke("manual", *args, "--explain", "-f", "jsonl").stdout)
    assert [r["evaluations"] for r in records[1:]] == [1, 1]
    assert records[2]["params"]["linear.weight"]["update"] == [0.0, 0.0, 0.0]
    assert records[2]["params"]["linear.weight"]["state"] == {"func_evals": [2.0], "n_iter": [0.0]}
    assert records[1]["explain"][0].startswith(
        "linear.weight[0]: 0 iterations, 1 evaluation; max|g| <= tolerance_grad 1e+06: no move; "
        "θ = "
    )


def test_cubic_interpolate_is_torchs():
    twin = getattr(importlib.import_module("torch.optim.lbfgs"), "_cubic_interpolate", None)
    if twin is None:
        pytest.skip("torch renamed _cubic_interpolate")
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        x1, x2 = torch.rand(2, generator=gen, dtype=torch.float64).tolist()
        f1, g1, f2, g2 = torch.randn(4, generator=gen)
        bounds = None if x1 > 0.5 else (min(x1, x2), max(x1, x2) * 2)
        assert cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds) == twin(
            x1, f1, g1, x2, f2, g2, bounds
        )


# --- LBFGS through gradcli -------------------------------------------------------------------


def test_records_count_the_evaluations_of_lbfgs_only(invoke):
    args = ["-m", "rosenbrock", "--steps", "2", "-f", "jsonl"]
    records = jsonl(invoke("optim", *args, "-o", "LBFGS(max_iter=3)", "--state").stdout)
    assert list(records[1])[:4] == ["step", "loss", "lr", "evaluations"]
    assert [r["evaluations"] for r in records[1:]] == [3, 3]
    assert "evaluations" not in records[0]
    func_evals = [r["params"]["xy"]["state"]["func_evals"] for r in records[1:]]
    assert func_evals == [[3.0], [6.0]]  # torch's own count agrees
    assert all("evaluations" not in r for r in jsonl(invoke("optim", *args).stdout))
    table = invoke("manual", "-m", "rosenbrock", "-o", "lbfgs", "--steps", "1", "-f", "table")
    assert "step 1/1   loss 409   20 evaluations\n" in table.stdout


def test_lbfgs_explain_of_one_iteration_fills_in_d_and_t(invoke):
    result = invoke(
        "manual", "-m", "rosenbrock", "-o", "LBFGS(max_iter=1)", "--steps", "1", "--explain"
    )
    # g = (−1606, −400): ‖g‖₁ = 2006, t = 1/2006, θ = −2 + 1606/2006
    assert jsonl(result.stdout)[1]["explain"] == [
        "xy[0]: 1 iteration, 1 evaluation; d = −g = 1606.000000; "
        "t = min(1, 1/‖g‖₁)·lr = 0.000498504; θ + t·d = (-2.000000) + 0.000498504 × "
        "1606.000000 "
        "= -1.199402"
    ]


def test_lbfgs_explain_reads_the_shared_state_at_each_parameters_offset(invoke):
    args = ["-m", "linear", "-o", "LBFGS(max_iter=1)", "--steps", "1", "--explain"]
    records = jsonl(invoke("optim", *args).stdout)
    weight, bias = records[1]["explain"]
    grads = records[1]["params"]
    assert f"d = −g = {-grads['linear.weight']['grad'][0]:.6f}" in weight
    assert f"d = −g = {-grads['linear.bias']['grad'][0]:.6f}" in bias


def test_an_lbfgs_checkpoint_resumes_on_the_other_path(invoke, tmp_path):
    ckpt = tmp_path / "a.pt"
    args = ["-m", "mlp", "-o", "LBFGS(history_size=3, max_iter=4)", "--state", "-f", "jsonl"]
    whole = invoke("manual", *args, "--steps", "8").stdout
    invoke("optim", *args, "--steps", "4", "--save", str(ckpt))
    second = invoke("manual", *args, "--steps", "4", "--resume", str(ckpt))
    assert second.exit_code == 0, second.stderr
    assert jsonl(second.stdout) == jsonl(whole)[5:]


def test_ddp_refuses_lbfgs_in_one_line(invoke):
    result = invoke("ddp", "-o", "lbfgs")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "gradcli: error: --optimizer lbfgs: gradcli ddp does not run an optimizer that "
        "evaluates the loss itself: the ranks would stop at different evaluations\n"
    )


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(run_specs(names=["lbfgs"], steps=30))
def test_lbfgs_manual_equals_torch_optim_for_any_settings(spec):
    assert_identical_or_diverged(spec)


# --- sparse gradients: SparseAdam, Adagrad and SGD against torch.optim ---------------------

THETA0 = torch.tensor([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0], [2.0, -0.5]])


def sparse(rows: list[int], values: list[list[float]]) -> torch.Tensor:
    """A sparse gradient of THETA0's shape: ``values`` at ``rows`` (a row may repeat)."""
    indices, size = torch.tensor([rows]), THETA0.shape
    return torch.sparse_coo_tensor(indices, torch.tensor(values), size, check_invariants=True)


G1 = sparse([0, 2], [[0.5, -1.0], [2.0, 0.25]])
G2 = sparse([2, 1, 2], [[-1.0, 1.0], [0.5, 0.5], [0.25, -3.0]])  # row 2 twice


def sparse_both(name: str, grads: list[torch.Tensor], **hyper):
    """The rule and its torch.optim twin, one sparse gradient a step; parameters and state
    agree bit for bit (keys in order) after every step. Returns (θ, state) after each."""
    described = catalog()[name]
    full = {**described.defaults, **hyper}
    lr = full.pop("lr", described.lr)
    mine, theirs = THETA0.clone(), nn.Parameter(THETA0.clone())
    state: dict = {}
    optimizer = getattr(torch.optim, described.torch_class)([theirs], lr=lr, **full)
    history = []
    for grad in grads:
        with torch.no_grad():
            described.rule([mine], [grad], [state], lr=lr, **full)
        theirs.grad = grad.clone()
        optimizer.step()
        assert_same_state(mine, theirs.detach(), "θ")
        assert list(state) == list(optimizer.state[theirs])
        for key, value in optimizer.state[theirs].items():
            assert_same_state(state[key], value, key)
        copied = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()}
        history.append((mine.clone(), copied))
    return history


def test_sparseadam_changes_only_the_rows_in_the_gradient():
    """Row 3 is in no gradient: its θ, m and v never move, where Adam would decay m and v
    everywhere and move every row with a non-zero m."""
    history = sparse_both("sparseadam", [G1, G2, G1], lr=0.1)
    for theta, state in history:
        assert torch.equal(theta[3], THETA0[3])
        assert not state["exp_avg"][3].any() and not state["exp_avg_sq"][3].any()
    (theta, state) = history[0]
    assert torch.equal(theta[1], THETA0[1])  # row 1 is not in G1
    assert state["step"] == 1 and type(state["step"]) is int  # a Python int, not a tensor


def test_sparseadam_adds_eps_to_root_v_before_the_bias_correction():
    """θ − lr·√(1 − β2ᵗ)/(1 − β1ᵗ)·m/(√v + ε): Adam's ε is added after √v/√(1 − β2ᵗ)."""
    beta1, beta2, eps, lr = 0.9, 0.999, 0.01, 0.1
    [(theta, _)] = sparse_both("sparseadam", [G1], lr=lr, eps=eps)
    g = G1.to_dense()[0]
    m, v = (1 - beta1) * g, (1 - beta2) * g**2
    sparse_adam = THETA0[0] - lr * (1 - beta2) ** 0.5 / (1 - beta1) * m / (v.sqrt() + eps)
    adam = THETA0[0] - lr / (1 - beta1) * m / (v.sqrt() / (1 - beta2) ** 0.5 + eps)
    assert torch.allclose(theta[0], sparse_adam, rtol=1e-6)
    assert not torch.allclose(theta[0], adam, rtol=1e-3)


def test_sparseadam_sums_duplicate_indices_before_the_update():
    """G2 has row 2 twice: the update sees their sum, as one entry would give it."""
    summed = sparse([2, 1], [[-0.75, -2.0], [0.5, 0.5]])
    [(twice, _)] = sparse_both("sparseadam", [G2], lr=0.1)
    [(once, _)] = sparse_both("sparseadam", [summed], lr=0.1)
    assert torch.equal(twice, once)


def test_sparseadam_counts_a_step_whose_gradient_holds_nothing():
    empty = torch.sparse_coo_tensor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(0, 2), (4, 2))
    history = sparse_both("sparseadam", [G1, empty, G1], lr=0.1)
    assert torch.equal(history[1][0], history[0][0])  # nothing moved ...
    assert [state["step"] for _, state in history] == [1, 2, 3]  # ... but t went on


def test_sparseadam_refuses_a_dense_gradient_as_torch_does():
    rule = catalog()["sparseadam"].rule
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        rule([THETA0.clone()], [torch.ones(4, 2)], [{}], lr=0.1, **catalog()["sparseadam"].defaults)


@pytest.mark.parametrize("hyper", [{}, {"lr_decay": 0.1, "maximize": True}, {"eps": 0.1}])
def test_adagrad_sparse_branch_sums_squares_on_the_gradients_entries_only(hyper):
    """s ← s + g² and θ ← θ − η·g/(√s + ε) on the rows in the gradient; the other rows keep
    their s (initial_accumulator_value) and θ."""
    hyper = {"lr": 0.5, "initial_accumulator_value": 0.25, **hyper}
    history = sparse_both("adagrad", [G1, G2, G1], **hyper)
    for theta, state in history:
        assert torch.equal(theta[3], THETA0[3])
        assert torch.equal(state["sum"][3], torch.full((2,), 0.25))


@pytest.mark.parametrize("hyper", [{"momentum": 0.9}, {"momentum": 0.5, "nesterov": True}])
def test_sgd_momentum_buffer_stays_sparse_as_in_torch(hyper):
    history = sparse_both("sgd", [G1, G2, G1], lr=0.1, **hyper)
    assert history[-1][1]["momentum_buffer"].is_sparse


# --- sparse gradients through gradcli ------------------------------------------------------


def test_the_embedding_problem_is_what_its_docstring_says():
    problem = problems.build("embedding", seed=0, dtype=torch.float32, device=torch.device("cpu"))
    indices = problem.indices.tolist()
    assert len(indices) == 16 and sorted(indices) == sorted(list(range(8)) * 2)
    problem().backward()
    assert problem.embedding.weight.grad.is_sparse
    assert problems.sparse_gradients(problem) == ["embedding.weight"]


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "lbfgs", "sparseadam"])
def test_the_sparse_takers_reach_the_least_squares_rows_and_leave_the_others(optimizer):
    from gradcli.train.setup import prepare

    spec = RunSpec(model="embedding", optimizer=optimizer, steps=100, every=100, device="cpu")
    training, _ = prepare(spec, "manual")
    start = training.problem.embedding.weight.detach().clone()
    for _ in training:
        pass
    (reference,) = training.summary().reference.values()
    assert reference.max_abs_diff < 0.02  # (SparseAdam, lr 0.1: still oscillating by 0.012)
    weight = training.problem.embedding.weight.detach()
    assert torch.equal(weight[8:], start[8:])  # never looked up: never moved


DENSE_ONLY = [name for name, o in catalog().items() if o.gradients == "dense"]


@pytest.mark.parametrize("optimizer", DENSE_ONLY)
def test_an_optimizer_that_refuses_sparse_gradients_says_so_in_one_line(invoke, optimizer):
    result = invoke("optim", "-m", "embedding", "-o", optimizer)
    assert result.exit_code == 2 and result.stdout == ""
    torch_class = catalog()[optimizer].torch_class
    assert result.stderr == (
        f"gradcli: error: --optimizer {optimizer}: torch.optim.{torch_class} does not take "
        "sparse gradients, and --model embedding gives one to embedding.weight "
        "(nn.Embedding(sparse=True)); use adagrad, lbfgs, sgd or sparseadam\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-o", "SGD(weight_decay=0.1)"],
            "--optimizer sgd: torch refuses weight_decay with sparse gradients (got 0.1)",
        ),
        (["-o", "adagrad", "--weight-decay", "0.5"], "weight_decay with sparse gradients"),
        (["-o", "sgd", "--impl", "fused"], "--impl fused: torch's fused kernels do not take"),
        (["-o", "sparseadam", "--lr", "0"], "lr must be > 0 (torch's rule), got 0"),
    ],
)
def test_settings_torch_refuses_with_sparse_gradients_are_one_line(invoke, args, message):
    for path in ("manual", "optim"):
        if path == "manual" and "--impl" in args:
            continue
        result = invoke(path, "-m", "embedding", *args)
        assert result.exit_code == 2 and result.stdout == "", result.stderr
        assert len(result.stderr.splitlines()) == 1 and message in result.stderr


@pytest.mark.parametrize("model", ["linear", "seed", "mlp", "rosenbrock"])
def test_sparseadam_on_a_dense_problem_names_what_it_needs(invoke, model):
    result = invoke("manual", "-m", model, "-o", "sparseadam")
    assert result.exit_code == 2 and result.stdout == ""
    line = result.stderr.strip()
    assert len(result.stderr.splitlines()) == 1
    assert line.startswith(
        "gradcli: error: --optimizer sparseadam: torch.optim.SparseAdam takes sparse gradients "
        f"only (nn.Embedding(sparse=True)), and --model {model} gives dense ones to "
    )
    assert line.endswith("; use --model embedding")


def test_compare_all_runs_the_optimizers_the_problem_suits(invoke):
    records = jsonl(invoke("compare", "-m", "embedding", "-o", "all", "--steps", "3").stdout)
    assert {r["optimizer"] for r in records} == {"adagrad", "lbfgs", "sgd", "sparseadam"}
    assert all(r["bit_identical"] for r in records)
    dense = jsonl(invoke("compare", "-m", "linear", "-o", "all", "--steps", "1").stdout)
    assert "sparseadam" not in {r["optimizer"] for r in dense}


def test_explain_and_state_of_a_sparse_run(invoke):
    args = ["-m", "embedding", "-o", "sparseadam", "--steps", "1", "--state", "--explain"]
    (record,) = jsonl(invoke("optim", *args).stdout)[1:]
    weight = record["params"]["embedding.weight"]
    assert set(weight["state"]) == {"step", "exp_avg", "exp_avg_sq"}
    assert weight["state"]["exp_avg"]["norm"] == pytest.approx(0.1 * weight["grad"]["norm"])
    (line,) = record["explain"]
    assert line.startswith("embedding.weight[0]: m = m + (1 − β1)·(g − m) = 0.000000 + 0.1 × (")


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "sparseadam", "lbfgs"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sparse_runs_are_bit_identical(optimizer, dtype):
    spec = RunSpec(model="embedding", optimizer=optimizer, dtype=dtype, steps=30)
    assert assert_identical(spec) == 31


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(run_specs(names=["sgd", "adagrad", "sparseadam", "lbfgs"], models=["embedding"], steps=30))
def test_sparse_runs_are_bit_identical_for_any_settings(spec):
    assert_identical_or_diverged(spec)


def test_lbfgs_explain_says_when_an_iteration_stopped_before_its_move(invoke):
    """Near the minimum g·d > −tolerance_change: the iteration counts, yet nothing moves."""
    args = ["-m", "mlp", "-o", "LBFGS(tolerance_grad=0.0)", "--steps", "60", "--explain"]
    records = jsonl(invoke("manual", *args, "-f", "jsonl").stdout)[1:]
    stopped = [r for r in records if "no descent, no move" in r["explain"][0]]
    assert stopped
    for record in stopped:
        assert record["evaluations"] == 1
        for p in record["params"].values():
            update = p["update"]
            assert update["norm"] == 0 if isinstance(update, dict) else not any(update)
