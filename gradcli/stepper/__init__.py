"""``gradcli step``: the stepper's panes (rich, ``panes``) and its full-screen app (textual,
``app``, imported only when ``gradcli step`` runs)."""
