"""docs/step.svg: gradcli step after a few keys, saved by textual's own screenshot.

    PYTHONPATH=. python docs/step_screenshot.py docs/step.svg

The same keys give the same picture on one machine (the numbers are float32's: another CPU
may print other last digits, so the SVG is re-made, never compared with a constant).
"""

from __future__ import annotations

import asyncio
import sys

from gradcli.spec import RunSpec, validate
from gradcli.stepper.app import StepperApp
from gradcli.train.stepping import Stepper

SIZE = (150, 50)
KEYS = ("s", "s", "s", "e", "s", "s")


def screenshot() -> str:
    """The SVG of ``gradcli step -m beale -o sgd -o adam`` after ``KEYS``."""
    specs = [validate(RunSpec(model="beale", optimizer=o, device="cpu")) for o in ("sgd", "adam")]
    app = StepperApp(Stepper(specs))

    async def run() -> str:
        async with app.run_test(size=SIZE) as pilot:
            for key in KEYS:
                await pilot.press(key)
            await pilot.pause()
            return app.export_screenshot(title="gradcli step -m beale -o sgd -o adam")

    return asyncio.run(run())


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8") as file:
        file.write(screenshot())
