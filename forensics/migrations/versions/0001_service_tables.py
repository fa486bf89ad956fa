"""service tables: API keys, daily usage, append-only audit log

Revision ID: 0001_service
Revises:
Create Date: 2026-11-27

Tables are created only where missing: a database that an earlier version filled with
``Base.metadata.create_all`` is adopted rather than refused.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001_service"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TRIGGERS_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS service_audit_log_no_update BEFORE UPDATE ON service_audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS service_audit_log_no_delete BEFORE DELETE ON service_audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]
_TRIGGERS_POSTGRES = [
    "CREATE OR REPLACE FUNCTION service_audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS service_audit_log_append_only ON service_audit_log",
    "CREATE TRIGGER service_audit_log_append_only BEFORE UPDATE OR DELETE ON service_audit_log "
    "FOR EACH ROW EXECUTE FUNCTION service_audit_log_append_only()",
]


def upgrade() -> None:
    bind = op.get_bind()
    have = set(sa.inspect(bind).get_table_names())
    if "service_api_keys" not in have:
        op.create_table(
            "service_api_keys",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("key_id", sa.String(16), nullable=False),
            sa.Column("name", sa.String(200), nullable=False),
            sa.Column("key_sha256", sa.String(64), nullable=False),
            sa.Column("scopes", sa.String(200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("rate_per_minute", sa.Float(), nullable=True),
            sa.Column("daily_quota", sa.Integer(), nullable=True),
            sa.UniqueConstraint("name"),
        )
        op.create_index("ix_service_api_keys_key_id", "service_api_keys", ["key_id"], unique=True)
    if "service_usage" not in have:
        op.create_table(
            "service_usage",
            sa.Column("key_id", sa.String(16), sa.ForeignKey("service_api_keys.key_id"), primary_key=True),
            sa.Column("day", sa.String(10), primary_key=True),
            sa.Column("count", sa.Integer(), nullable=False),
        )
    if "service_audit_log" not in have:
        op.create_table(
            "service_audit_log",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("event", sa.String(32), nullable=False),
            sa.Column("key_name", sa.String(200), nullable=True),
            sa.Column("manifest_id", sa.String(200), nullable=True),
            sa.Column("prompt_sha256", sa.String(64), nullable=True),
            sa.Column("model", sa.String(500), nullable=True),
            sa.Column("detail", sa.Text(), nullable=True),
            sa.Column("prev_sha256", sa.String(64), nullable=False),
            sa.Column("entry_sha256", sa.String(64), nullable=False),
        )
        op.create_index("ix_service_audit_log_at", "service_audit_log", ["at"])
        op.create_index("ix_service_audit_log_manifest_id", "service_audit_log", ["manifest_id"])
    triggers = {"sqlite": _TRIGGERS_SQLITE, "postgresql": _TRIGGERS_POSTGRES}.get(bind.dialect.name, [])
    for stmt in triggers:
        op.execute(stmt)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS service_audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS service_audit_log_no_delete")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS service_audit_log_append_only ON service_audit_log")
        op.execute("DROP FUNCTION IF EXISTS service_audit_log_append_only()")
    op.drop_table("service_audit_log")
    op.drop_table("service_usage")
    op.drop_table("service_api_keys")
