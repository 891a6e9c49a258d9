"""Pictures, drawn as text for a terminal (and as matplotlib figures for a file): line plots
(``plot.py``), the loss surface with paths on it (``surface.py``), per-parameter norm
curves (``sparks.py``), a picture's lines, marks and wrapped captions (``text.py``), their
styles (``styles.py``); the figures for files (``figures.py``, matplotlib) and the
files themselves (``files.py``).
``drawing.py`` draws the pictures of runs from their records; ``request.py`` checks what
``--plot`` asks for before a run, ``live.py`` draws them around a run being trained,
``saved.py`` for runs read back from JSON lines (``gradcli plot``). No torch here except
in ``live.py``."""
