"""`forensics keys …` — the group. `init` (local test PKI) lives here; `create-api-key` is registered by
forensics.cli.apikeys onto the same group."""
from __future__ import annotations

import typer

keys_app = typer.Typer(help="Signing keys, trust anchors and API keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


@keys_app.command("init", help="(not implemented yet)")
def _init_placeholder():
    typer.echo("forensics keys init: not implemented yet", err=True)
    raise typer.Exit(2)
