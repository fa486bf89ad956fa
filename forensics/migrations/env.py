"""Alembic environment: the target is ``forensics.db.Base.metadata`` with every module that defines tables
imported, so ``alembic revision --autogenerate`` sees the whole schema."""
from __future__ import annotations

from alembic import context

from forensics.db import Base, engine_for

import forensics.service.store  # noqa: F401,E402  (API keys, usage, audit log)
import forensics.provenance.repository  # noqa: F401,E402  (the manifest repository)

target_metadata = Base.metadata
config = context.config


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"}, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection") or engine_for(config.get_main_option("sqlalchemy.url"))
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode makes later migrations portable.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
