"""One SQLAlchemy declarative base for every table the suite keeps (manifest repository, API keys,
audit log), so Alembic manages a single schema. Engines are cached per URL."""
from __future__ import annotations

import sqlite3
from functools import lru_cache

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from .errors import ConfigError


class Base(DeclarativeBase):
    pass


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        from pathlib import Path

        target = url[len("sqlite:///"):]
        if not target.startswith("file:") and "?" not in target:  # a plain path (not a sqlite URI)
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn, _):  # concurrent readers + one writer (audit workers, the service)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            try:
                cur.execute("PRAGMA journal_mode=WAL")
            except sqlite3.DatabaseError:
                # read-only file or directory, or not a database at all: readers still work in the
                # file's own journal mode, and the first real query reports what is wrong
                pass
            cur.close()

        return eng
    return create_engine(url, pool_pre_ping=True)


def session_factory(url: str) -> sessionmaker:
    return sessionmaker(engine_for(url), expire_on_commit=False)


def safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database"


def database_error(url: str, exc: BaseException, what: str = "the database") -> ConfigError:
    """A user-facing ConfigError for a database that cannot be used (not a database, read-only, wrong
    schema, unreachable): the URL without its password and the driver's first line."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return ConfigError(f"cannot use {what} {safe_url(url)}: {first}")
