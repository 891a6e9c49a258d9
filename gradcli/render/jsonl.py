"""JSON lines: one object per shown step, full precision (schema in README.md)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from gradcli.render.numbers import number, values

if TYPE_CHECKING:
    from gradcli.engine import RunInfo
    from gradcli.records import StepRecord, Summary


def step_object(record: StepRecord) -> dict[str, Any]:
    return {
        "step": record.step,
        "loss": None if record.loss is None else number(record.loss),
        "params": {
            p.name: {
                "shape": list(p.shape),
                "value": values(p.value),
                "grad": values(p.grad),
                "update": values(p.update),
            }
            for p in record.params
        },
    }


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


class JsonlSink:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def start(self, info: RunInfo) -> None:
        pass

    def step(self, record: StepRecord) -> None:
        self.out.write(dumps(step_object(record)) + "\n")
        self.out.flush()

    def finish(self, summary: Summary) -> None:
        # The summary is words for a person; the records on stdout already hold the data.
        print(
            f"gradcli: {summary.steps} steps, loss {summary.first_loss:.6g} -> "
            f"{summary.final_loss:.6g}",
            file=sys.stderr,
        )
