"""`forensics generate` — placeholder until its issue lands."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("generate", help="(not implemented yet)")
    def _placeholder():
        typer.echo("forensics generate: not implemented yet", err=True)
        raise typer.Exit(2)
