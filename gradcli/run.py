"""Drives each command: spec -> engine -> records -> sink, with Ctrl-C and divergence."""

from __future__ import annotations

import sys

import torch
from torch import nn

from gradcli import pitfalls, problems
from gradcli.compare import Comparison
from gradcli.engine import prepare, save_checkpoint
from gradcli.errors import Diverged, Interrupted
from gradcli.graph import autograd_graph, dot
from gradcli.inspection import KINDS, Demo, claims, inspect_model
from gradcli.interrupt import interruptible
from gradcli.output import Output
from gradcli.render import lessons, make_compare_sink, make_sink
from gradcli.render.rows import write_rows
from gradcli.spec import PITFALLS, RunSpec


def run_training(spec: RunSpec, path: str) -> None:
    training, info = prepare(spec, path)  # errors (e.g. no CUDA) surface before any output
    output = spec.output
    sink = make_sink(output)
    sink.start(info)
    with (
        interruptible() as interrupt,
        output.progress(spec.steps, f"gradcli {path}", thinned=spec.every > 1) as progress,
    ):
        training.should_stop = interrupt.is_set
        training.on_step = lambda step: progress(step - training.start)
        for record in training:
            sink.step(record)
    if training.diverged:
        lr = info.lr
        raise Diverged(f"{training.diverged}; try a smaller --lr (this run used {lr:g})")
    last = training.start + spec.steps
    interrupted = training.stopped_at is not None and training.stopped_at < last
    if spec.save is not None:  # at the end of the run, and when Ctrl-C stopped it
        output.say(f"gradcli: saving checkpoint {spec.save}")
        save_checkpoint(training, spec)
    if interrupted:
        raise Interrupted(f"stopped after step {training.stopped_at} of {last}")
    sink.finish(training.summary())


def run_compare(specs: list[RunSpec], tol: float | None) -> None:
    comparison = Comparison(specs, tol)
    output = specs[0].output
    sink = make_compare_sink(output)
    with interruptible() as interrupt:
        comparison.should_stop = interrupt.is_set
        for record in comparison:
            sink.step(record)
    if comparison.stopped_at is not None:
        raise Interrupted(f"stopped after step {comparison.stopped_at} of {specs[0].steps}")
    sink.finish(comparison.summaries)


def build_for_inspection(model: str) -> nn.Module:
    """The demo module or a built-in problem, on the CPU in float32, seed 0."""
    torch.manual_seed(0)
    if model == "demo":
        return Demo()
    return problems.build(model, seed=0, dtype=torch.float32, device=torch.device("cpu"))


def run_params(model: str, output: Output) -> None:
    module = build_for_inspection(model)
    rows = sorted(inspect_model(module), key=lambda r: KINDS.index(r.kind))
    fmt = output.resolved_format()
    if fmt == "table":
        lessons.params_table(output.console(sys.stdout), model, rows, claims(module, rows))
    else:
        dicts = lessons.param_dicts(rows)
        write_rows(sys.stdout, fmt, dicts, list(dicts[0]) if dicts else [])


def run_graph(model: str, output: Output) -> None:
    module = build_for_inspection(model)
    nodes = autograd_graph(module, module())
    fmt = output.resolved_format()
    if fmt == "table":
        lessons.graph_tree(output.console(sys.stdout), model, nodes)
    elif fmt == "dot":
        sys.stdout.write(dot(nodes))
    else:
        write_rows(
            sys.stdout,
            fmt,
            lessons.node_dicts(nodes),
            ["id", "node", "parameter", "shape", "inputs"],
        )


def run_pitfalls(name: str | None, output: Output) -> None:
    fmt = output.resolved_format()
    if name is None:
        if fmt == "table":
            lessons.pitfall_list(output.console(sys.stdout), PITFALLS)
        else:
            write_rows(
                sys.stdout,
                fmt,
                [{"name": n, "summary": s} for n, s in PITFALLS.items()],
                ["name", "summary"],
            )
        return
    outcome = pitfalls.PITFALLS[name]()
    if fmt == "table":
        lessons.pitfall_table(output.console(sys.stdout), outcome, PITFALLS[name])
    else:
        write_rows(
            sys.stdout,
            fmt,
            lessons.pitfall_dicts(outcome),
            ["pitfall", "step", "quantity", "mistake", "correct"],
        )
