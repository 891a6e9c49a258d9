"""Drives one training command: spec -> engine -> records -> sink."""

from __future__ import annotations

from gradcli.compare import Comparison
from gradcli.engine import prepare
from gradcli.render import make_compare_sink, make_sink
from gradcli.spec import RunSpec


def run_training(spec: RunSpec, path: str) -> None:
    training, info = prepare(spec, path)  # errors (e.g. no CUDA) surface before any output
    sink = make_sink(spec.format)
    sink.start(info)
    for record in training:
        sink.step(record)
    sink.finish(training.summary())


def run_compare(specs: list[RunSpec], tol: float | None) -> None:
    comparison = Comparison(specs, tol)
    sink = make_compare_sink(specs[0].format)
    for record in comparison:
        sink.step(record)
    sink.finish(comparison.summaries)
