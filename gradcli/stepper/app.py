"""The full-screen stepper (textual): keys step, run, reset and change the runs of a
``Stepper``; the panes (``gradcli.stepper.panes``) are redrawn after each key. Imported only
when ``gradcli step`` runs: textual is an optional extra (``pip install 'gradcli[step]'``).
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import Footer, Static

from gradcli.pictures.drawing import SurfaceMap
from gradcli.stepper import panes
from gradcli.train.stepping import Stepper

RUN_INTERVAL = 0.15  # seconds between the steps of a running stepper
LR_FACTOR = 2.0


class StepperApp(App[None]):
    """Training one keypress at a time."""

    TITLE = "gradcli step"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #status { height: auto; padding: 0 1; }
    #left, #right { width: 1fr; }
    #params, #formula, #loss, #path { height: auto; padding: 0 1; }
    #formula { border-top: solid $secondary; }
    #path { border-top: solid $secondary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "step", "step"),
        Binding("space", "run", "run/pause"),
        Binding("r", "reset", "reset"),
        Binding("plus,equals_sign", "lr(2)", "lr×2", key_display="+"),
        Binding("minus", "lr(0.5)", "lr÷2", key_display="-"),
        Binding("o", "next_run", "next run"),
        Binding("m", "path", "optim/manual"),
        Binding("e", "explain", "explain"),
        Binding("t", "state", "state"),
        Binding("left", "start(-1, 0)", "start", show=False),
        Binding("right", "start(1, 0)", "start", show=False),
        Binding("up", "start(0, 1)", "start", show=False),
        Binding("down", "start(0, -1)", "start", show=False),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, stepper: Stepper) -> None:
        super().__init__()
        self.stepper = stepper
        self.timer: Timer | None = None
        self.note = ""  # a line under the status, until the next key
        self.surface: SurfaceMap | None = panes.surface(stepper)

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Horizontal():
            with VerticalScroll(id="left"):
                yield Static(id="params")
                yield Static(id="formula")
            with VerticalScroll(id="right"):
                yield Static(id="loss")
                yield Static(id="path")
        yield Footer()

    def on_mount(self) -> None:
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    @property
    def running(self) -> bool:
        return self.timer is not None

    def redraw(self) -> None:
        stepper = self.stepper
        width = max(40, self.size.width // 2 - 4)
        status = panes.status(stepper, self.running)
        if self.note:
            status.append(f"\n{self.note}", "yellow")
            self.note = ""
        self.query_one("#status", Static).update(status)
        self.query_one("#params", Static).update(panes.parameters(stepper.current))
        self.query_one("#formula", Static).update(panes.formula(stepper.current, stepper.explain))
        self.query_one("#loss", Static).update(panes.picture(stepper, "loss", width))
        path = self.query_one("#path", Static)
        path.display = self.surface is not None
        if self.surface is not None:
            path.update(panes.picture(stepper, "path", width, self.surface))

    # -- the keys --------------------------------------------------------------------------

    def action_step(self) -> None:
        self.stepper.step()
        if all(run.ended is not None for run in self.stepper.runs):
            self._pause()
        self.redraw()

    def action_run(self) -> None:
        if self.running:
            self._pause()
        else:
            self.timer = self.set_interval(RUN_INTERVAL, self.action_step)
        self.redraw()

    def _pause(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def action_reset(self) -> None:
        self._pause()
        self.stepper.reset()
        self.redraw()

    def action_lr(self, factor: float) -> None:
        self.stepper.scale_lr(factor)
        self.redraw()

    def action_next_run(self) -> None:
        self.stepper.next_run()
        self.redraw()

    def action_path(self) -> None:
        self.stepper.switch_path()
        self.redraw()

    def action_explain(self) -> None:
        self.stepper.toggle_explain()
        self.redraw()

    def action_state(self) -> None:
        self.stepper.toggle_state()
        self.redraw()

    def action_start(self, dx: int, dy: int) -> None:
        if self.surface is None:
            self.note = "arrows move the start on a problem with two trainable elements only"
            self.redraw()
            return
        self._pause()
        self.stepper.move_start(dx, dy)
        self.redraw()
