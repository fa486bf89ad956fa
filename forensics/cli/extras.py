"""A command's optional extra: checked before any work, a missing one is exit 2 with the install line."""
from __future__ import annotations

import typer

from ..extras import MissingExtra, require


def need(extra: str, feature: str, *modules: str) -> None:
    """Exit 2 with ``pip install 'forensics-suite[extra]'`` unless ``extra`` (or just ``modules``) is installed."""
    try:
        require(extra, *modules, feature=feature)
    except MissingExtra as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
