"""Start-up tricks, each measured and each with its gain in its module's docstring.

- ``collector``: the cycle collector paused while torch is imported (~0.45 s a run);
- ``coercion``: option values converted without pydantic (~0.15 s a run);
- ``threads``: one intra-op thread for small CPU models (3x on a busy 2-core machine).

None of them changes a result; each can be deleted and gradcli runs the plain way.
"""
