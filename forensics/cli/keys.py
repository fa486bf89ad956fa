"""`forensics keys …` — the group. `init` (local test PKI) lives here; `create-api-key` is registered by
forensics.cli.apikeys onto the same group."""
from __future__ import annotations

from typing import Optional

import typer

keys_app = typer.Typer(help="Signing keys, trust anchors and API keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def init(
    directory: Optional[str] = typer.Option(None, "--dir", metavar="DIR",
                                            help="Where to write the keys (default: $FORENSICS_HOME/keys)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing test PKI (and its trust anchor)."),
    json_out: bool = typer.Option(False, "--json", help="Print the written paths as JSON."),
):
    """Create a local TEST PKI: root CA -> intermediate -> ES256 signing certificate.

    The root is registered as a local trust anchor, so files you sign verify as Trusted on this machine
    only. Not for production: every file is marked TEST ONLY.
    """
    import json

    from ..errors import ForensicsError
    from ..provenance.keys import init_pki

    try:
        pki = init_pki(directory, force=force)
    except ForensicsError as exc:
        typer.echo(f"forensics keys init: error ({exc.code}): {exc.message}", err=True)
        raise typer.Exit(2)
    except OSError as exc:
        typer.echo(f"forensics keys init: error (unwritable): {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(2)
    if json_out:
        typer.echo(json.dumps(pki.to_json()))
        return
    typer.echo(f"TEST-ONLY signing PKI written to {pki.directory}")
    typer.echo(f"  signing chain  {pki.signer_chain}")
    typer.echo(f"  private key    {pki.signer_key}")
    typer.echo(f"  root CA        {pki.root_cert}  (registered in {pki.trust_anchors})")
    typer.echo("Files signed with it verify as Trusted only where this root is a trust anchor.")
