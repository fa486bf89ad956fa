"""`forensics serve` (the newsroom API + verification page) and `forensics db upgrade` (schema migrations)."""
from __future__ import annotations

import typer

db_app = typer.Typer(help="The database behind the manifest repository, API keys and audit log.",
                     no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(db_app, name="db")


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on. Put a TLS reverse proxy in front "
                                               "before exposing it beyond this machine."),
    port: int = typer.Option(8000, min=0, max=65535, help="TCP port."),
    model: str = typer.Option(None, help="Generation model: hub id or local folder "
                                          "(default: service.model in config.toml, else stabilityai/sd-turbo); "
                                          "builtin:tiny works offline (abstract noise)."),
    device: str = typer.Option(None, help="cpu or cuda (default: cuda when available)."),
    no_generate: bool = typer.Option(False, "--no-generate", help="Verification only: no model, no signing key."),
    queue_size: int = typer.Option(None, min=1, help="Generation jobs that may wait (default 4)."),
    verify_workers: int = typer.Option(None, min=1, help="Threads verifying uploads (default 2)."),
    registry: str = typer.Option(None, "--registry", help="Manifest repository URL (default $FORENSICS_REGISTRY)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
):
    """Run the newsroom API and the verification web page (OpenAPI at /openapi.json)."""
    from .extras import need

    need("service", "forensics serve")
    from ..errors import ForensicsError
    from ..service import ServiceSettings, create_app

    try:
        settings = ServiceSettings.load(model=model, device=device, queue_size=queue_size,
                                        verify_workers=verify_workers, registry_url=registry,
                                        generate=False if no_generate else None)
        if settings.generate:
            need("generate", "forensics serve with generation (--no-generate serves verification only)")
        identity = None
        if settings.generate:
            from ..service.signing import load_identity

            identity = load_identity(settings)  # fail now, with a clear message, not at the first request
        app = create_app(settings, identity=identity)
    except ForensicsError as exc:
        typer.echo(f"forensics serve: {exc.message}", err=True)
        raise typer.Exit(2)
    except OSError as exc:
        typer.echo(f"forensics serve: {exc}", err=True)
        raise typer.Exit(2)
    import uvicorn

    what = f"model {settings.model}" if settings.generate else "verification only"
    typer.echo(f"forensics serve: http://{host}:{port}/ ({what}; OpenAPI at /openapi.json)", err=True)
    if settings.generate and settings.model == "builtin:tiny":
        typer.echo("note: builtin:tiny has random weights; its images are abstract noise (for tests and demos)",
                   err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False, proxy_headers=False)


@db_app.command("upgrade")
def db_upgrade(url: str = typer.Option(None, "--url", help="SQLAlchemy URL (default: the manifest repository, "
                                                           "$FORENSICS_REGISTRY)."),
               revision: str = typer.Option("head", help="Target revision.")):
    """Create or migrate the schema (Alembic) of the repository/keys/audit database."""
    from sqlalchemy.exc import SQLAlchemyError

    from .extras import need

    need("service", "forensics db upgrade", "alembic")

    from .. import config, migrations

    from ..errors import ForensicsError

    target = config.registry_url(url)
    try:
        migrations.upgrade(target, revision)
        typer.echo(f"{_safe_url(target)}: at revision {migrations.current(target)}")
    except ForensicsError as exc:
        typer.echo(f"forensics db upgrade: {exc.message}", err=True)
        raise typer.Exit(2)
    except (SQLAlchemyError, ModuleNotFoundError) as exc:
        typer.echo(f"forensics db upgrade: {type(exc).__name__}: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(2)


@db_app.command("current")
def db_current(url: str = typer.Option(None, "--url", help="SQLAlchemy URL (default $FORENSICS_REGISTRY).")):
    """Print the database's schema revision and the newest one this version knows."""
    from sqlalchemy.exc import SQLAlchemyError

    from .extras import need

    need("service", "forensics db current", "alembic")

    from .. import config, migrations

    target = config.registry_url(url)
    try:
        typer.echo(f"current: {migrations.current(target)}  head: {migrations.head()}")
    except (SQLAlchemyError, ModuleNotFoundError) as exc:
        typer.echo(f"forensics db current: {type(exc).__name__}: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(2)


@db_app.command("verify-audit")
def db_verify_audit(url: str = typer.Option(None, "--url", help="Database URL of the audit log (default: the "
                                                               "service's database_url, else the repository's)."),
                    as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Check the service's audit log: its hash chain and the signed checkpoint of its head (exit 0 intact,
    1 edited or cut short, 2 cannot check)."""
    import json

    from sqlalchemy.exc import SQLAlchemyError

    from ..db import database_error
    from ..errors import ForensicsError
    from ..service.checkpoint import AuditCheckpoint
    from ..service.settings import ServiceSettings
    from ..service.signing import load_identity
    from ..service.store import ServiceStore

    target = None
    try:
        settings = ServiceSettings.load(database_url=url)
        target = settings.resolved_database_url()
        identity = load_identity(settings)  # its certificate checks the checkpoint's signature
        store = ServiceStore(target, checkpoint=AuditCheckpoint.for_settings(settings, identity, target))
        status = store.audit_status()
    except ForensicsError as exc:
        typer.echo(f"forensics db verify-audit: {exc.message}", err=True)
        raise typer.Exit(2)
    except SQLAlchemyError as exc:
        typer.echo(f"forensics db verify-audit: {database_error(target or '', exc).message}", err=True)
        raise typer.Exit(2)
    if as_json:
        cp = status["checkpoint"]
        typer.echo(json.dumps({**status, "checkpoint": None if cp is None else
                               {k: cp[k] for k in ("rows", "head_id", "head_sha256", "at")}}))
    elif status["ok"]:
        cp = status["checkpoint"]
        anchor = f"; signed head: entry {cp['head_id']} at {cp['at']}" if cp else ""
        extra = f"; {status['unanchored']} newer entries not yet anchored" if status["unanchored"] else ""
        typer.echo(f"audit log intact: {status['rows']} entries{anchor}{extra}")
    else:
        typer.echo(f"audit log FAILED: {status['reason']}")
    raise typer.Exit(0 if status["ok"] else 1)


def _safe_url(url: str) -> str:
    """The URL without a password, for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database"
