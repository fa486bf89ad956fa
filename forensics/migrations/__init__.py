"""The suite's database schema, managed by Alembic (one schema for every table on ``forensics.db.Base``).

``upgrade(url)`` brings a database (SQLite file or any SQLAlchemy URL, e.g. Postgres) to the newest
revision; ``forensics db upgrade`` and ``forensics serve`` call it. No alembic.ini is needed: the script
location is this package. For the alembic CLI itself, use ``alembic -x url=... `` with a config whose
``script_location`` is ``forensics:migrations`` (see docs/service.md).
"""
from __future__ import annotations

import threading
from pathlib import Path

_lock = threading.Lock()
_done: set[str] = set()


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (idempotent; cached per process). A database that
    cannot be migrated (not a database, read-only, a revision this version does not know, unreachable)
    raises :class:`~forensics.errors.ConfigError` with the reason."""
    with _lock:
        if revision == "head" and url in _done:
            return
        from alembic import command
        from alembic.util import CommandError
        from sqlalchemy.exc import SQLAlchemyError

        from ..db import database_error

        try:
            command.upgrade(alembic_config(url), revision)
        except (SQLAlchemyError, CommandError) as exc:
            raise database_error(url, exc) from None
        if revision == "head":
            _done.add(url)


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from ..db import engine_for

    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
