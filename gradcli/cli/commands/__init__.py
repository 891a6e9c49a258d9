"""One module per command: its options, their checks, and its call into the layers below.
None imports torch at import time; each command imports what it runs inside its body."""
