"""params, graph and pitfalls: every claim they print is checked against torch here too."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import jsonl
from lanes import fast_cases
from torch import nn

from gradcli.lessons import evaluation, pitfalls
from gradcli.lessons.graph import autograd_graph, dot
from gradcli.lessons.inspection import Demo, claims, held_tensors, inspect_model
from gradcli.spec import MODELS, PITFALL_SUMMARIES

DEMO_ROWS = {
    # name: (kind, parameters(), buffers(), state_dict(), .to converts, grad, forward, step)
    "linear.weight": ("Parameter", True, False, True, True, True, False, True),
    "linear.bias": ("Parameter", True, False, True, True, True, False, True),
    "scale": ("frozen Parameter", True, False, True, True, False, False, False),
    "running_mean": ("persistent buffer", False, True, True, True, False, True, False),
    "x": ("non-persistent buffer", False, True, False, True, False, False, False),
    "offset": ("plain tensor attribute", False, False, False, False, False, False, False),
}


def test_params_jsonl_for_the_demo(invoke):
    result = invoke("params", "-f", "jsonl")
    assert result.exit_code == 0 and result.stderr == ""
    rows = {r["name"]: r for r in jsonl(result.stdout)}
    assert list(rows) == list(DEMO_ROWS)
    for name, expected in DEMO_ROWS.items():
        r = rows[name]
        assert (
            r["kind"],
            r["in_parameters"],
            r["in_buffers"],
            r["in_state_dict"],
            r["converted_by_to_float64"],
            r["grad_after_backward"],
            r["changed_by_forward"],
            r["changed_by_step"],
        ) == expected, name
    assert rows["linear.weight"]["shape"] == [1, 3] and rows["x"]["dtype"] == "float32"


def test_demo_rows_agree_with_torch_directly():
    """The same facts, asked of torch without gradcli's machinery."""
    model = Demo()
    assert {n for n, _ in model.named_parameters()} == {"linear.weight", "linear.bias", "scale"}
    assert {n for n, _ in model.named_buffers()} == {"running_mean", "x"}
    assert set(model.state_dict()) == {"linear.weight", "linear.bias", "scale", "running_mean"}
    converted = copy.deepcopy(model).to(torch.float64)
    assert converted.offset.dtype == torch.float32 and converted.x.dtype == torch.float64
    model().backward()
    assert model.linear.weight.grad is not None and model.scale.grad is None


def test_inspection_leaves_the_model_alone():
    model = Demo()
    before = {n: t.clone() for n, _, t in held_tensors(model)}
    inspect_model(model)
    after = {n: t for n, _, t in held_tensors(model)}
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert model.linear.weight.grad is None


def test_claims_hold_and_are_shown_under_the_table(invoke):
    model = Demo()
    lines = claims(model, inspect_model(model))
    joined = "\n".join(lines)
    for fact in (
        "type(v) is torch.Tensor: True",
        "isinstance(p, torch.Tensor): True",
        "requires_grad=True by default",
        "state_dict(): True",
        "(b * 2).requires_grad: False",
        "left every parameter unchanged: True",
        "left it float32",
        "running_mean changed during forward()",
    ):
        assert fact in joined
    assert isinstance(torch.autograd.Variable(torch.ones(1)), torch.Tensor)
    out = invoke("params", "-f", "table").stdout
    assert "the tensors model demo holds" in out and "plain tensor attribute" in out
    assert "(found by doing it to a copy)" in out
    assert "• torch.autograd.Variable(t) returns a torch.Tensor" in out


@pytest.mark.parametrize("model", fast_cases(list(MODELS), 2))
def test_params_works_for_every_problem(invoke, model):
    for fmt in ("csv", "jsonl", "table"):
        result = invoke("params", "--model", model, "-f", fmt)
        assert result.exit_code == 0, result.stderr
    rows = jsonl(invoke("params", "--model", model, "-f", "jsonl").stdout)
    trained = [r["name"] for r in rows if r["changed_by_step"]]
    assert trained == [r["name"] for r in rows if r["kind"] == "Parameter"]


def test_graph_reaches_every_parameter_once(invoke):
    model = Demo()
    nodes = autograd_graph(model, model())
    assert nodes[0].name == "MeanBackward0"
    leaves = {n.parameter: n.shape for n in nodes if n.name == "AccumulateGrad"}
    assert leaves == {"linear.weight": (1, 3), "linear.bias": (1,)}
    assert any(None in n.inputs for n in nodes)  # x and offset: inputs without grad
    records = jsonl(invoke("graph", "-f", "jsonl").stdout)
    assert [r["id"] for r in records] == list(range(len(nodes)))
    assert records[0]["node"] == "MeanBackward0"


def test_graph_tree_and_dot(invoke):
    tree = invoke("graph", "--model", "linear", "-f", "table").stdout
    assert tree.startswith("loss of model linear = MseLossBackward0")
    assert "AccumulateGrad ← linear.weight [1×3]" in tree
    text = invoke("graph", "--model", "linear", "-f", "dot").stdout
    assert text.startswith("digraph autograd {") and text.rstrip().endswith("}")
    assert 'label="AccumulateGrad\\nlinear.weight [1, 3]"' in text
    assert text == dot(autograd_graph(*_linear()))


def _linear():
    from gradcli.lessons import build_for_inspection

    model = build_for_inspection("linear")
    return model, model()


def test_graph_marks_shared_nodes():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(2))

        def forward(self):
            return (self.w * self.w).sum()

    model = Twice()
    nodes = autograd_graph(model, model())
    mul = next(n for n in nodes if n.name == "MulBackward0")
    assert mul.inputs[0] == mul.inputs[1]  # one AccumulateGrad, reached twice
    assert sum(n.name == "AccumulateGrad" for n in nodes) == 1


def test_pitfall_list(invoke):
    rows = jsonl(invoke("pitfalls", "-f", "jsonl").stdout)
    assert [r["name"] for r in rows] == list(PITFALL_SUMMARIES)
    assert set(pitfalls.PITFALL_RUNS) == set(PITFALL_SUMMARIES)
    table = invoke("pitfalls", "-f", "table").stdout
    assert all(name in table for name in PITFALL_SUMMARIES)


def test_data_zero_collapses_weights_to_minus_lr_grad():
    outcome = pitfalls.data_zero()
    after = [r for r in outcome.rows if r.quantity == "w after"]
    grads = [r for r in outcome.rows if r.quantity == "w.grad used"]
    for w, g in zip(after, grads, strict=True):
        assert w.mistake == tuple((-pitfalls.LR * torch.tensor(g.mistake)).tolist())
    assert [g.mistake[0] for g in grads] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert after[-1].correct == pytest.approx((0.9, 1.9, 2.9))


def test_no_zero_grad_accumulates():
    grads = [r for r in pitfalls.no_zero_grad().rows if r.quantity == "w.grad"]
    assert [r.mistake[0] for r in grads] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert all(r.correct[0] == pytest.approx(1 / 3) for r in grads)


def test_inplace_leaf_shows_torchs_own_error():
    w = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError) as raised:
        w -= 1
    row = pitfalls.inplace_leaf().rows[0]
    assert row.mistake == f"RuntimeError: {str(raised.value).splitlines()[0]}"
    assert row.correct == pytest.approx((1 - 0.1 / 3, 2 - 0.1 / 3, 3 - 0.1 / 3))


def test_plain_tensor_never_changes():
    rows = pitfalls.plain_tensor().rows
    assert rows[0].mistake == "b" and set(rows[0].correct.split()) == {"w", "b"}
    assert all(r.mistake == (1.0, 2.0, 3.0) for r in rows if r.quantity == "w after")
    assert rows[-2].correct != (1.0, 2.0, 3.0)


def test_set_to_none_gives_none_and_an_attribute_error():
    rows = pitfalls.set_to_none().rows
    w = torch.ones(1, requires_grad=True)
    w.sum().backward()
    torch.optim.SGD([w], lr=0.1).zero_grad()
    assert w.grad is None  # torch's default, which the pitfall shows
    assert rows[0].mistake == "None" and rows[0].correct == (0.0, 0.0, 0.0)
    assert rows[1].mistake.startswith("AttributeError: 'NoneType' object has no attribute 'norm'")


def test_variable_is_a_tensor():
    rows = pitfalls.variable().rows
    assert rows[0].mistake == rows[0].correct == "torch.Tensor"
    assert rows[2].mistake == rows[2].correct


@pytest.mark.parametrize("name", ["data-zero", "inplace-leaf"])
def test_a_pitfall_that_uses_lr_says_what_it_is(invoke, name):
    """The code reads ``lr * w.grad``; the table says which lr the numbers come from."""
    head = invoke("pitfalls", name, "-f", "table").stdout.split("mistake")[0]
    assert "w = torch.tensor([1., 2., 3.], requires_grad=True)" in head
    assert f"  lr = {pitfalls.LR:g}" in head.splitlines()


@pytest.mark.parametrize("name", ["no-zero-grad", "set-to-none"])
def test_a_pitfall_with_an_optimizer_shows_it(invoke, name):
    head = invoke("pitfalls", name, "-f", "table").stdout.splitlines()[1:3]
    assert head == [
        "  w = torch.tensor([1., 2., 3.], requires_grad=True)",
        f"  optimizer = torch.optim.SGD([w], lr={pitfalls.LR:g})",
    ]


@pytest.mark.parametrize("name", list(PITFALL_SUMMARIES))
@pytest.mark.parametrize("fmt", fast_cases(["table", "jsonl", "csv"]))
def test_every_pitfall_runs_in_every_format(invoke, name, fmt):
    result = invoke("pitfalls", name, "-f", fmt)
    assert result.exit_code == 0 and result.stderr == ""
    if fmt == "jsonl":
        rows = jsonl(result.stdout)
        assert {r["pitfall"] for r in rows} == {name}
    elif fmt == "table":
        assert result.stdout.startswith(f"{name}: {PITFALL_SUMMARIES[name]}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pitfalls", "zero"], "unknown pitfall 'zero'; choose one of: data-zero, no-zero-grad"),
        (["params", "--model", "resnet"], "--model: unknown model 'resnet'; choose one of: demo"),
        (
            ["graph", "--format", "png"],
            "--format: unknown format 'png'; choose one of: auto, table, jsonl, csv, tsv, dot",
        ),
        (["params", "--format", "dot"], "--format: unknown format 'dot'"),
    ],
)
def test_bad_input(invoke, args, message):
    result = invoke(*args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_csv_writes_a_shape_as_the_training_commands_do(invoke):
    """One form of a shape in every CSV: ``16x2`` in optim, params and graph alike."""
    import csv

    def shapes(*args: str, key: str) -> dict[str, str]:
        rows = csv.DictReader(invoke(*args, "-m", "mlp", "-f", "csv").stdout.splitlines())
        return {row[key]: row["shape"] for row in rows if row[key]}

    expected = {"net.0.weight": "16x2", "net.0.bias": "16", "net.4.weight": "2x16"}
    for found in (
        shapes("optim", "--steps", "0", key="param"),
        shapes("params", key="name"),
        shapes("graph", key="parameter"),
    ):
        assert {name: found[name] for name in expected} == expected


def test_params_shows_the_source_of_the_module_it_inspects(invoke, tmp_path):
    """Each row can be traced to a line of the class: the demo's source, or a problem's."""
    out = invoke("params", "-f", "table").stdout
    assert out.startswith("the module (gradcli/lessons/inspection.py)\nclass Demo(nn.Module):\n")
    assert "self.offset = torch.tensor([0.5])" in out
    assert out.index("def forward(self)") < out.index("the tensors model demo holds")
    assert "class Linear" in invoke("params", "-m", "linear", "-f", "table").stdout
    assert invoke("params", "-f", "jsonl").stdout.startswith('{"name"')  # data only


def rows_of(outcome: pitfalls.Outcome) -> dict[tuple[int, str], pitfalls.Row]:
    return {(r.step, r.quantity): r for r in outcome.rows}


def test_eval_mode_train_mode_evaluation_is_random_and_changes_batch_norm():
    outcome = pitfalls.PITFALL_RUNS["eval-mode"]()
    rows = rows_of(outcome)
    mean = next(q for s, q in rows if s == 0)
    before = rows[0, mean].mistake
    assert rows[0, mean].correct == before  # two copies of one trained model
    first, second = rows[1, "val loss"], rows[2, "val loss"]
    # the mistake: dropout draws new masks, so the same data gives another loss ...
    assert first.mistake != second.mistake
    # ... and batch norm folds the held-out batch into its running mean, each pass
    assert before != rows[1, mean].mistake != rows[2, mean].mistake
    # the fix: one answer, and nothing in the model moves
    assert first.correct == second.correct
    assert rows[1, "val accuracy"].correct == rows[2, "val accuracy"].correct
    assert rows[1, mean].correct == rows[2, mean].correct == before
    one = rows[3, "model(x_val[:1])"]
    assert one.mistake.startswith("ValueError: Expected more than 1 value per channel")
    assert one.correct.startswith("class ")
    steps = evaluation.STEPS
    assert f"num_batches_tracked {steps} → {steps + 2}" in outcome.lesson


def test_eval_mode_fix_is_what_the_mini_batch_loop_reports():
    """The fix's held-out loss and accuracy are those of the loop's own evaluation, which
    leaves the model as it found it (in train mode, its running statistics untouched)."""
    from gradcli.data import Request, load
    from gradcli.data.feed import Feed

    d = evaluation.digits()
    model = evaluation.trained(d)
    before = evaluation.running_mean(model)
    feed = Feed(
        load(Request("digits")),
        batch_size=evaluation.BATCH,
        shuffle=True,
        drop_last=True,
        data_seed=0,
        loss=None,
        dtype=torch.float32,
        device=torch.device("cpu"),
    )
    reported = feed.evaluate(model)
    assert reported is not None and model.training
    assert torch.equal(evaluation.running_mean(model), before)
    loss, accuracy = evaluation.evaluated(model.eval(), d)
    assert accuracy == reported.accuracy
    assert loss == pytest.approx(reported.loss, rel=1e-6)  # a float32 mean vs a float64 sum


def test_batch_norm_and_dropout_facts_the_lesson_rests_on():
    """Asked of torch directly: train mode under no_grad still updates the running
    statistics and drops units; eval mode does neither."""
    torch.manual_seed(0)
    norm, drop = nn.BatchNorm1d(3), nn.Dropout(0.5)
    x = torch.randn(8, 3) + 5
    with torch.no_grad():
        norm(x)
        assert norm.running_mean.gt(0).all() and int(norm.num_batches_tracked) == 1
        assert not torch.equal(drop(x), drop(x))
        norm.eval(), drop.eval()
        kept = norm.running_mean.clone()
        norm(x)
        assert torch.equal(norm.running_mean, kept) and torch.equal(drop(x), x)


def test_no_grad_costs_memory_and_lets_a_stray_backward_train_on_held_out_data():
    outcome = pitfalls.PITFALL_RUNS["no-grad"]()
    rows = rows_of(outcome)
    assert rows[1, "loss"].mistake == rows[1, "loss"].correct  # the numbers are the same
    assert rows[1, "loss.grad_fn"].mistake == "NllLossBackward0"
    assert rows[1, "loss.grad_fn"].correct == "None"
    saved, kept = rows[1, "tensors saved for backward"], rows[1, "bytes of activations kept"]
    assert saved.mistake[0] > 0 and saved.correct == (0,) and kept.correct == (0,)
    # batch norm's backward needs its input, the last Linear its input (the ReLU's output):
    # two float32 [held-out, HIDDEN] activations at least
    held_out = len(evaluation.digits().x_val)
    assert kept.mistake[0] >= 2 * held_out * evaluation.HIDDEN * 4
    assert rows[1, "|grad| after evaluating"] == pitfalls.Row(
        1, "|grad| after evaluating", "None", "None"
    )  # evaluating never writes .grad
    stray = rows[2, "|grad| after loss.backward()"]
    assert stray.mistake[0] > 0
    assert stray.correct.startswith("RuntimeError: element 0 of tensors does not require grad")
    used, excess = rows[3, "|grad| the next step uses"], rows[3, "|grad − the batch's grad|"]
    assert used.mistake != used.correct
    # what the next step carries on top of its batch's gradient is the held-out gradient
    # (float32 sums of a few thousand terms: 1e-5 relative)
    assert excess.mistake[0] == pytest.approx(stray.mistake[0], rel=1e-5)
    assert excess.correct == (0.0,)


def test_saved_tensor_bytes_leave_out_the_model_and_the_data():
    """activation_bytes counts a storage once and never the parameters, buffers or data."""
    d = evaluation.digits()
    model = evaluation.trained(d).eval()
    _, saved = evaluation.saved_by(model, d)
    pointers = {t.untyped_storage().data_ptr() for t in saved}
    assert d.x_val.untyped_storage().data_ptr() in pointers  # the first Linear saves its input
    total = sum(
        {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in saved}.values()
    )
    kept = evaluation.activation_bytes(saved, model, d)
    assert 0 < kept <= total - d.x_val.nbytes
    assert evaluation.activation_bytes(saved + saved, model, d) == kept


@pytest.mark.parametrize("name", ["eval-mode", "no-grad"])
def test_held_out_pitfalls_give_the_same_rows_twice(name):
    """Seeded: the table, the JSON lines and the docs show the same numbers every run."""
    assert pitfalls.PITFALL_RUNS[name]() == pitfalls.PITFALL_RUNS[name]()
