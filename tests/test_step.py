"""gradcli step: the stepper driven headless by textual's own driver (key presses -> screen
and records); its records are gradcli optim's JSON lines for the same steps, bit for bit.
The tests that drive the app take a second or more each: they are in the slow lane."""

from __future__ import annotations

import asyncio
import html
import json
import re

import pytest
from helpers import jsonl

pytest.importorskip("textual")

from gradcli.render.jsonl import step_object
from gradcli.render.numbers import dumps
from gradcli.spec import RunSpec, validate
from gradcli.stepper.app import StepperApp
from gradcli.train.stepping import Stepper

SIZE = (160, 60)


def stepper(*optimizers: str, model: str = "rosenbrock") -> Stepper:
    return Stepper([validate(RunSpec(model=model, optimizer=o, device="cpu")) for o in optimizers])


def drive(app: StepperApp, keys: list[str], after: dict[int, object] | None = None) -> str:
    """Press ``keys`` in ``app`` run headless; returns the screen's text at the end.
    ``after``: {i: callback(app)} called once key i is handled."""

    async def run() -> str:
        async with app.run_test(size=SIZE) as pilot:
            for i, key in enumerate(keys):
                await pilot.press(key)
                await pilot.pause()
                if after and i in after:
                    after[i](app)  # type: ignore[operator]
            svg = app.export_screenshot()
        return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")

    return asyncio.run(run())


def objects(run) -> list[dict]:
    """The run's records as gradcli optim's JSON lines parse."""
    return [json.loads(dumps(step_object(r))) for r in run.records]


def optim_lines(invoke, steps: int, *flags: str) -> list[dict]:
    args = ["optim", "-m", "rosenbrock", "-o", "adam", "--device", "cpu"]
    result = invoke(*args, "--steps", str(steps), "--format", "jsonl", *flags)
    assert result.exit_code == 0, result.output
    return jsonl(result.stdout)


def test_the_steppers_records_are_optims_and_manuals_bit_for_bit(invoke):
    """The engine alone (the fast lane's check): three steps, the path switched, one more."""
    one = stepper("adam")
    for _ in range(3):
        one.step()
    assert objects(one.current) == optim_lines(invoke, 3)
    one.switch_path()
    one.step()
    assert one.path == "manual" and objects(one.current) == optim_lines(invoke, 4)


@pytest.mark.slow  # drives the app: a second or more
def test_ten_key_presses_show_and_record_what_optim_writes(invoke):
    app = StepperApp(stepper("adam"))
    seen: dict[str, list[dict]] = {}
    keys = ["s", "s", "s", "e", "t", "s", "s", "m", "s", "s"]
    screen = drive(app, keys, {2: lambda a: seen.update(plain=objects(a.stepper.current))})
    # three plain steps: optim's first three records, bit for bit
    assert seen["plain"] == optim_lines(invoke, 3)
    # --explain and --state on, then manual: the steps replayed by hand, then two more;
    # every record is optim --explain --state's
    run = app.stepper.current
    assert app.stepper.path == "manual"
    assert [r.step for r in run.records] == list(range(8))
    assert objects(run) == optim_lines(invoke, 7, "--explain", "--state")
    # the screen: what the run is, the parameters, the formula, the state, both pictures
    assert "adam lr=0.1" in screen and "manual" in screen and "step 7" in screen
    assert "xy" in screen and "update" in screen
    assert "exp_avg_sq" in screen  # the state table
    assert "m = β1·m + (1 − β1)·g" in screen  # the formula with its numbers
    assert f"{run.records[-1].params[0].value[0]:.6g}" in screen
    assert "loss" in screen and "path" in screen


@pytest.mark.slow  # drives the app: a second or more
def test_the_lr_keys_double_and_halve_the_next_steps_lr():
    app = StepperApp(stepper("sgd"))
    drive(app, ["s", "+", "s", "-", "-", "s"])
    lrs = [r.lr for r in app.stepper.current.records[1:]]
    base = app.stepper.current.info.lr
    assert lrs == [base, 2 * base, base / 2]


@pytest.mark.slow  # drives the app: a second or more
def test_reset_starts_again_and_repeats_the_same_records():
    app = StepperApp(stepper("adam"))
    firsts: list[list[dict]] = []
    drive(app, ["s", "s", "r", "s", "s"], {1: lambda a: firsts.append(objects(a.stepper.current))})
    assert objects(app.stepper.current) == firsts[0]


@pytest.mark.slow  # drives the app: a second or more
def test_arrows_move_the_start_of_a_2d_problem():
    app = StepperApp(stepper("sgd"))
    start = app.stepper.current.records[0].params[0].value
    drive(app, ["right", "up", "s"])
    moved = app.stepper.current.records[0].params[0].value
    assert moved[0] > start[0] and moved[1] > start[1]
    assert app.stepper.start == pytest.approx(moved)
    assert [r.step for r in app.stepper.current.records] == [0, 1]


@pytest.mark.slow  # drives the app: a second or more
def test_several_runs_step_together_and_o_picks_the_one_shown():
    app = StepperApp(stepper("sgd", "adam"))
    screen = drive(app, ["s", "s", "o"])
    assert [len(run.records) for run in app.stepper.runs] == [3, 3]
    assert app.stepper.current.label == "adam"
    assert "adam (run 2 of 2)" in screen


@pytest.mark.slow  # drives the app: a second or more
def test_a_problem_of_more_than_two_elements_has_no_path_and_arrows_say_so():
    app = StepperApp(stepper("sgd", model="linear"))
    screen = drive(app, ["s", "left"])
    assert app.stepper.start is None
    assert "two trainable elements" in screen


def test_not_a_terminal_is_one_line_and_exit_2(invoke):
    result = invoke("step", "-m", "rosenbrock", "-o", "adam")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("gradcli: error: gradcli step needs a terminal")
    assert len(result.stderr.splitlines()) == 1


def test_bad_options_are_checked_before_the_terminal(invoke):
    result = invoke("step", "-o", "adam", "--momentum", "0.9")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "gradcli: error: --momentum does not apply to any of --optimizer adam (it applies "
        "to: muon, rmsprop, sgd)"
    ]


@pytest.mark.slow  # drives the app: a second or more
def test_a_run_that_diverges_stops_and_says_why_and_the_others_go_on():
    app = StepperApp(stepper("sgd", "adam"))
    screen = drive(app, ["+"] * 12 + ["s"] * 4)
    sgd, adam = app.stepper.runs
    assert sgd.ended == "step 3: the loss is inf and the gradient of xy is not finite"
    assert len(sgd.records) == 4  # the start and three steps, the last one's record kept
    assert adam.ended is None and len(adam.records) == 5
    assert f"sgd stopped: {sgd.ended}" in screen


def test_an_lr_whose_update_overflows_ends_the_run_with_the_loops_line():
    app = StepperApp(stepper("sgd"))
    app.stepper.scale_lr(1e40 / app.stepper.current.info.lr)  # lr 1e40: beyond float32
    app.stepper.step()
    assert "overflows float32" in str(app.stepper.current.ended)
    app.stepper.step()  # an ended run takes no more steps
    assert len(app.stepper.current.records) == 1


@pytest.mark.slow  # a real process on a pseudo-terminal
def test_the_command_runs_full_screen_on_a_terminal_and_q_quits():
    pty = pytest.importorskip("pty")
    import contextlib
    import os
    import select
    import sys

    pid, fd = pty.fork()
    if pid == 0:  # the child: gradcli step on the pseudo-terminal
        os.environ.update(COLUMNS="120", LINES="40", CUDA_VISIBLE_DEVICES="")
        args = ["step", "-m", "rosenbrock", "-o", "adam", "--device", "cpu"]
        os.execv(sys.executable, [sys.executable, "-m", "gradcli", *args])
    shown = b""

    def read_until(text: bytes) -> None:
        nonlocal shown
        while text not in shown:
            ready, _, _ = select.select([fd], [], [], 60)
            assert ready, shown[-2000:]
            shown += os.read(fd, 65536)

    read_until(b"step 0")
    os.write(fd, b"s")
    read_until(b"step 1")
    os.write(fd, b"q")
    with contextlib.suppress(OSError):  # read to the end (EIO once the child is gone): a
        while chunk := os.read(fd, 65536):  # child blocked writing to a full pty never exits
            shown += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"Traceback" not in shown
