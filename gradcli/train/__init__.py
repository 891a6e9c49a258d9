"""Training: the run's set-up (``setup``), the one loop (``loop``) and its hooks, the two ways
to update (``updates``), clipping, several methods in lockstep (``compare``), checkpoints and
what a signal does during a run (``interrupt``). The commands that drive them live in
``gradcli.cli.commands``."""
