"""`forensics audit` — placeholder until its issue lands."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("audit", help="(not implemented yet)")
    def _placeholder():
        typer.echo("forensics audit: not implemented yet", err=True)
        raise typer.Exit(2)
