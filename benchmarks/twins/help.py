"""The smallest Typer app with three subcommands: what `gradcli --help` is measured against."""

import typer

app = typer.Typer()


@app.command()
def optim(steps: int = 100) -> None:
    """Train with torch.optim."""


@app.command()
def manual(steps: int = 100) -> None:
    """Train by hand."""


@app.command()
def compare(steps: int = 100) -> None:
    """Compare."""


if __name__ == "__main__":
    app()
