"""Training: the run's set-up (``setup``), the one loop (``loop``), the two ways to update
(``updates``), what drives each command (``run``, ``compare``), checkpoints and Ctrl-C."""
