"""gradcli: make one step of neural-network training visible."""

__version__ = "0.1.0"
