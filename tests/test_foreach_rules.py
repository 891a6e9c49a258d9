"""The foreach rules (``gradcli manual --impl foreach``): torch's private helpers behind
gradcli/private_api.py and their fallbacks, and state, --explain, checkpoints and compare with
either rule. Their bit identity with torch.optim is in test_identity.py."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest
import torch
from helpers import bits, jsonl
from lanes import fast_cases
from test_identity import FOREACH, assert_identical

from gradcli import private_api
from gradcli.spec import RunSpec, validate
from gradcli.train.setup import prepare


@pytest.mark.parametrize("optimizer", fast_cases(FOREACH, 2))
def test_the_fallbacks_give_torchs_foreach_bits(monkeypatch, optimizer):
    """Without torch's ``_foreach_*`` functions and its grouping, the rules run a loop per
    tensor and group by themselves: on the CPU, the same bits as torch's foreach."""
    monkeypatch.setattr(
        private_api._Foreach,
        "__getattr__",
        lambda self, name: partial(private_api._one_by_one, name),
    )
    monkeypatch.setattr(private_api, "group_by_device_and_dtype", private_api._grouped)
    settings = {"momentum": 0.9} if optimizer in ("sgd", "rmsprop") else {}
    spec = RunSpec(model="mlp", optimizer=optimizer, steps=20, impl="foreach", settings=settings)
    assert assert_identical(spec) == 21


def test_the_grouping_fallback_makes_torchs_groups():
    a, b = torch.zeros(2), torch.zeros(3, dtype=torch.float64)
    c, d = torch.ones(1), torch.ones(4, dtype=torch.float64)
    lists = [[a, b, c, d], [a, None, c, None], []]
    for with_indices in (False, True):
        torch_groups = private_api.group_by_device_and_dtype(lists, with_indices)
        own = private_api._grouped(lists, with_indices)
        assert torch_groups.keys() == own.keys()
        for key, (tensorlists, indices) in own.items():
            theirs, their_indices = torch_groups[key]
            assert [[id(t) for t in tl] for tl in tensorlists] == [
                [id(t) for t in tl] for tl in theirs
            ]
            assert indices == their_indices


def test_the_default_is_foreach_on_cuda_only(monkeypatch):
    assert private_api.default_foreach([torch.zeros(2)]) is False
    import torch.optim.optimizer as torch_optimizer

    monkeypatch.delattr(torch_optimizer, "_default_to_fused_or_foreach")
    assert private_api.default_foreach([torch.zeros(2)]) is False


def test_the_per_tensor_loop_covers_every_kind_of_argument():
    def lists():
        return [torch.tensor([1.0, -2.0]), torch.tensor([4.0])]

    for name, args in [
        ("add_", (lists(),)),
        ("add_", (torch.tensor(1.0),)),
        ("mul_", ([2.0, 3.0],)),
        ("lerp_", (lists(), 0.25)),
        ("maximum_", (lists(),)),
        ("addcdiv_", (lists(), [torch.tensor([2.0, 2.0]), torch.tensor([8.0])], [0.5, -1.0])),
        ("sqrt", ()),
        ("abs", ()),
    ]:
        theirs, own = lists(), lists()
        got = getattr(torch, f"_foreach_{name}")(theirs, *args)
        mine = private_api._one_by_one(name, own, *args)
        if name.endswith("_"):  # (in place: both hand the list back too)
            got, mine = theirs, own
        assert all(torch.equal(bits(x), bits(y)) for x, y in zip(got, mine, strict=True)), name


@pytest.mark.parametrize("optimizer", fast_cases(FOREACH, 2))
def test_state_and_explain_read_the_same_with_either_rule(invoke, optimizer):
    """Same state keys and dtypes, the same --explain lines: byte for byte the output of
    torch.optim's foreach."""
    args = ["-m", "mlp", "-o", optimizer, "--steps", "5", "--state", "--explain", "-f", "jsonl"]
    args += ["--momentum", "0.9"] if optimizer == "sgd" else []
    by_optim = invoke("optim", *args, "--impl", "foreach")
    by_hand = invoke("manual", *args, "--impl", "foreach")
    assert by_hand.exit_code == by_optim.exit_code == 0, by_hand.stderr
    assert by_hand.stdout == by_optim.stdout
    last = jsonl(by_hand.stdout)[-1]
    assert last["explain"] and all(p["state"] for p in last["params"].values())


@pytest.mark.parametrize("optimizer", fast_cases(FOREACH))
def test_a_checkpoint_resumes_under_either_rule(invoke, tmp_path, optimizer):
    """A checkpoint the foreach rule wrote goes on with torch's foreach as if never
    stopped, and with the for-loop rule as torch's for-loop does."""
    args = ["-m", "mlp", "-o", optimizer, "-f", "jsonl", "--state"]
    ckpt = tmp_path / "a.pt"
    whole = invoke("optim", *args, "--steps", "20", "--impl", "foreach").stdout
    first = invoke("manual", *args, "--steps", "10", "--impl", "foreach", "--save", str(ckpt))
    assert first.exit_code == 0, first.stderr
    for impl in ("foreach", "forloop"):
        by_hand = invoke("manual", *args, "--steps", "10", "--impl", impl, "--resume", str(ckpt))
        by_optim = invoke("optim", *args, "--steps", "10", "--impl", impl, "--resume", str(ckpt))
        assert by_hand.exit_code == 0, by_hand.stderr
        assert by_hand.stdout == by_optim.stdout
        if impl == "foreach":
            assert first.stdout + by_hand.stdout == whole


def test_compare_impl_foreach_pairs_the_foreach_rules_with_torchs(invoke):
    """The four whose foreach rounds differently from the for-loop: 0 ULPs apart."""
    result = invoke(
        "compare", "-o", "nadam,radam,asgd,adafactor", "-m", "mlp", "--steps", "20",
        "--impl", "foreach", "--device", "cpu", "-f", "jsonl",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert len(records) == 4 * 21
    assert all(r["bit_identical"] and r["max_ulps"] == 0 for r in records)
    forloop = invoke(
        "compare", "-o", "nadam", "-m", "mlp", "--steps", "20", "--impl", "forloop",
        "--device", "cpu", "-f", "jsonl",
    )  # fmt: skip
    assert all(r["bit_identical"] for r in jsonl(forloop.stdout))


def test_sgd_nesterov_foreach_writes_into_the_gradients():
    """torch's quirk, repeated by the foreach rule: foreach SGD with Nesterov momentum (no
    maximize, no weight decay) adds μ·b into the gradient tensors themselves: at step 2,
    g + μ·b = 1/3 + 0.5 × (0.5 × 1/3 + 1/3) = 0.583333. The records copy the gradients before
    the update, so they still show g (tests/test_optimizers_cli.py::
    test_records_show_the_gradient_even_where_foreach_overwrites_it)."""
    from gradcli.optimizers.sgd import SGD

    hyper = {**SGD.defaults, "momentum": 0.5, "nesterov": True}
    mine, theirs = torch.tensor([1.0, 2.0, 3.0]), torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    optimizer = torch.optim.SGD([theirs], lr=0.1, foreach=True, **hyper)
    state: dict = {}
    for _ in range(2):
        grad = torch.full((3,), 1 / 3)
        theirs.grad = grad.clone()
        optimizer.step()
        with torch.no_grad():
            SGD.foreach_rule([mine], [grad], [state], lr=0.1, **hyper)
        assert torch.equal(grad, theirs.grad)  # both wrote g + μ·b into the gradient
    assert grad[0].item() == pytest.approx(1 / 3 + 0.5 * (0.5 * (1 / 3) + 1 / 3))
    assert torch.equal(mine, theirs.detach())


@pytest.mark.parametrize(
    ("optimizer", "settings"),
    [
        ("sgd", {}),
        ("sgd", {"momentum": 0.9}),
        ("sgd", {"momentum": 0.9, "nesterov": True, "maximize": True}),
        ("adagrad", {}),
        ("adagrad", {"lr_decay": 0.1, "maximize": True}),
    ],
)
def test_sparse_gradients_take_torchs_way_round_the_foreach_kernels(optimizer, settings):
    """torch's foreach has no kernels for sparse gradients: SGD adds them to θ one by one,
    Adagrad steps a group holding one with its for-loop. The foreach rules do the same."""
    spec = RunSpec(model="embedding", optimizer=optimizer, steps=20, settings=settings)
    spec = validate(replace(spec, impl="foreach", device="cpu"))
    manual, _ = prepare(spec, "manual")
    optim, _ = prepare(spec, "optim")

    def dense(t):
        return bits(t.to_dense() if t.is_sparse else t)

    for step, _ in enumerate(zip(manual, optim, strict=True)):
        pairs = zip(manual.problem.parameters(), optim.problem.parameters(), strict=True)
        for mp, op in pairs:
            assert torch.equal(bits(mp), bits(op)), f"parameters differ at step {step}"
            ms, os_ = manual.update.state[mp], optim.update.state[op]
            assert not step or ms.keys() == os_.keys()
            for key in ms if step else ():
                assert torch.equal(dense(ms[key]), dense(os_[key])), f"{key} at step {step}"
    assert step == 20
