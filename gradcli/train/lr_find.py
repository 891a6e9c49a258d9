"""The learning-rate range test on the one loop: each step of the ramp is one
``Training.advance()`` (with ``--data``: the next mini-batch) at the ramp's lr, and the loss
it returns (before the update) feeds the curve (``gradcli.lr_range``).

``range_test`` leaves the training as it found it: the model's parameters and buffers, the
optimizer's state and its lr are put back afterwards, so a test never changes what a caller
goes on to train (the batches drawn are not given back: a run with ``--data`` draws on).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from gradcli.lr_range import Curve, Ramp
from gradcli.records import RunInfo
from gradcli.spec import RunSpec
from gradcli.train.loop import Training
from gradcli.train.setup import prepare
from gradcli.train.updates import ManualUpdate


@contextmanager
def restored(training: Training) -> Iterator[None]:
    """Whatever happens inside, ``training``'s model, optimizer state and lr are as before."""
    update = training.update
    model = copy.deepcopy(training.problem.state_dict())
    lr = update.lr
    if isinstance(update, ManualUpdate):  # keyed by the parameters themselves: keep those
        keep = {id(p): p for p in update.params}
        state: object = copy.deepcopy(dict(update.state), memo=keep)
    else:
        state = [copy.deepcopy(o.state_dict()) for o in update.optimizers]
    try:
        yield
    finally:
        training.problem.load_state_dict(model)
        if isinstance(update, ManualUpdate):
            update.state.clear()
            update.state.update(state)  # type: ignore[call-overload]
        else:
            for optimizer, saved in zip(update.optimizers, state, strict=True):  # type: ignore[call-overload]
                optimizer.load_state_dict(saved)
        update.lr = lr


def range_test(
    training: Training,
    ramp: Ramp,
    curve: Curve,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> Curve:
    """Train through ``ramp`` into ``curve`` until it says stop (or ``should_stop()``:
    Ctrl-C); then put ``training`` back as it was."""
    with restored(training):
        for i in range(ramp.steps):
            lr = ramp.lr(i)
            training.update.lr = lr
            loss = training.advance().detach().item()  # the loss before this lr's update
            if on_step is not None:
                on_step(i + 1)
            if not curve.add(i, lr, loss):
                break
            if should_stop is not None and should_stop():
                curve.stopped = f"step {i}: interrupted"
                break
    return curve


def run(
    spec: RunSpec,
    path: str,
    ramp: Ramp,
    curve: Callable[[int], Curve],
    seeds: int,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> tuple[list[Curve], RunInfo]:
    """The test for ``seeds`` seeds: seed k draws the initial parameters from ``--seed`` + k
    and (with ``--data``) the batches from ``--data-seed`` + k; ``curve(seed)`` is each one's
    empty curve."""
    curves: list[Curve] = []
    info = None
    for k in range(seeds):
        data_seed = spec.data_seed + k if spec.data is not None else spec.data_seed
        one = replace(
            spec,
            seed=spec.seed + k,
            data_seed=data_seed,
            steps=ramp.steps,
            lr=ramp.start,
            schedule=None,  # the ramp is the schedule
            save=None,
        )
        training, made = prepare(one, path)
        info = info or made
        done = k * ramp.steps

        def progress(step: int, done: int = done) -> None:
            if on_step is not None:
                on_step(done + step)

        curves.append(range_test(training, ramp, curve(one.seed), should_stop, progress))
        if should_stop is not None and should_stop():
            break
    assert info is not None
    return curves, info
