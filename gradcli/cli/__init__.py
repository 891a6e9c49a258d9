"""The command line. Importing it never imports torch: ``gradcli --help`` and shell completion
stay fast; each command imports what it runs inside its body."""

from gradcli.cli.app import app, main

__all__ = ["app", "main"]
