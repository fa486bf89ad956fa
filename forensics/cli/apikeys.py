"""`forensics keys create-api-key` — registered onto the keys group (service issue)."""
from __future__ import annotations

import typer

from .keys import keys_app


def register(app: typer.Typer) -> None:  # the command is attached to keys_app at import time
    return None


@keys_app.command("create-api-key", help="(not implemented yet)")
def _placeholder():
    typer.echo("forensics keys create-api-key: not implemented yet", err=True)
    raise typer.Exit(2)
