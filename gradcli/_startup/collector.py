"""Python's cycle collector, paused while gradcli starts up.

Importing torch, and ``torch._dynamo`` that the first ``torch.optim`` optimizer pulls in,
makes about 280,000 objects that live as long as the process. While they are being made,
the collector runs its full pass five times, each walking every object made so far: about
0.35 s of a 3 s run on 2 cores (measured with torch 2.13), and not one of those objects is
garbage. So the command line pauses the collector when it starts (``pause``: the
``gradcli`` command does so before it imports Typer, rich and the commands, which made the
collector run 30 times during a help screen, 5–24 ms of a 0.2 s ``--help``); once the
problem, the update and the sink exist, ``resume`` moves everything alive into the permanent
generation (``gc.freeze``) and switches the collector back on. The training loop runs with
it on, as usual, and its full passes no longer walk the imports (``gradcli ddp``: once its
workers are started, or in each process torchrun started). Short commands that never train
(``params``, ``graph``, ``pitfalls``) end with it still paused.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what start-up made and collect as usual from here on (no-op unless paused)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
