"""Drives one training command: spec -> engine -> records -> sink."""

from __future__ import annotations

from gradcli.engine import prepare
from gradcli.render import make_sink
from gradcli.spec import RunSpec


def run_training(spec: RunSpec, path: str) -> None:
    training, info = prepare(spec, path)  # errors (e.g. no CUDA) surface before any output
    sink = make_sink(spec.format)
    sink.start(info)
    for record in training:
        sink.step(record)
    sink.finish(training.summary())
