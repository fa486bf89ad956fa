"""`forensics keys create-api-key | list-api-keys | revoke-api-key` — API keys for `forensics serve`,
registered onto the keys group."""
from __future__ import annotations

import json

import typer

from .keys import keys_app


def register(app: typer.Typer) -> None:  # the commands are attached to keys_app at import time
    return None


def _store(url: str | None, command: str):
    from .extras import need

    need("service", f"forensics keys {command}", "alembic")  # the keys table is created by the migrations
    from .. import migrations
    from ..service.settings import ServiceSettings
    from ..service.store import ServiceStore

    settings = ServiceSettings.load(database_url=url)
    target = settings.resolved_database_url()
    migrations.upgrade(target)
    return ServiceStore(target)


def _clear_errors(command: str):
    """A configuration or database error in a key command is one line and exit 2, never a traceback."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            from sqlalchemy.exc import SQLAlchemyError

            from ..db import database_error
            from ..errors import ForensicsError
            from ..service.settings import ServiceSettings

            try:
                return fn(*args, **kwargs)
            except SQLAlchemyError as exc:
                exc = database_error(ServiceSettings.load(database_url=kwargs.get("db")).resolved_database_url(), exc)
                typer.echo(f"forensics keys {command}: {exc.message}", err=True)
            except ForensicsError as exc:
                typer.echo(f"forensics keys {command}: {exc.message}", err=True)
            raise typer.Exit(2)
        return run
    return wrap


@keys_app.command("create-api-key")
@_clear_errors("create-api-key")
def create_api_key(
    name: str = typer.Option(..., "--name", help="Who or what uses the key (unique), e.g. 'photo-desk'."),
    scopes: str = typer.Option("generate,verify", help="Comma-separated: generate, verify."),
    rate_per_minute: float = typer.Option(None, help="Generation requests per minute for this key "
                                                     "(default: the server's rate_per_minute)."),
    daily_quota: int = typer.Option(None, min=0, help="Generations per UTC day (default: the server's daily_quota)."),
    db: str = typer.Option(None, "--db", help="Database URL (default: the manifest repository's)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Create an API key for `forensics serve`. The key is printed ONCE; only its hash is stored."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..errors import ForensicsError

    try:
        store = _store(db, "create-api-key")
        token, info = store.create_api_key(name, [s.strip() for s in scopes.split(",") if s.strip()],
                                           rate_per_minute=rate_per_minute, daily_quota=daily_quota)
    except ForensicsError as exc:
        typer.echo(f"forensics keys create-api-key: {exc.message}", err=True)
        raise typer.Exit(2)
    except SQLAlchemyError as exc:
        typer.echo(f"forensics keys create-api-key: database error: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps({"name": info.name, "key": token, "key_id": info.key_id, "scopes": sorted(info.scopes)}))
    else:
        typer.echo(token)
        typer.echo(f"API key '{info.name}' (id {info.key_id}, scopes {', '.join(sorted(info.scopes))}). "
                   "Store it now: it is not shown again. Send it as 'Authorization: Bearer <key>'.", err=True)


@keys_app.command("list-api-keys")
@_clear_errors("list-api-keys")
def list_api_keys(db: str = typer.Option(None, "--db", help="Database URL (default: the manifest repository's)."),
                  as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List API keys (names, ids, scopes; never the keys)."""
    keys = _store(db, "list-api-keys").list_keys()
    if as_json:
        typer.echo(json.dumps(keys))
        return
    for k in keys:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        typer.echo(f"{k['key_id']}  {k['name']}  [{','.join(k['scopes'])}]  {state}")


@keys_app.command("revoke-api-key")
@_clear_errors("revoke-api-key")
def revoke_api_key(name: str = typer.Option(..., "--name", help="The key's name."),
                   db: str = typer.Option(None, "--db", help="Database URL (default: the manifest repository's).")):
    """Revoke an API key (it stops working at once)."""
    if not _store(db, "revoke-api-key").revoke(name):
        typer.echo(f"forensics keys revoke-api-key: no active key named {name!r}", err=True)
        raise typer.Exit(2)
    typer.echo(f"revoked '{name}'")
