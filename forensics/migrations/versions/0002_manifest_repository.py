"""manifest repository table (forensics.provenance.repository.ManifestRow)

Revision ID: 0002_manifests
Revises: 0001_service
Create Date: 2026-11-27

ManifestRepository also creates its table on first use (create_all, checkfirst) so `forensics generate`
works without a migration step; this revision therefore creates it only where it is missing.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002_manifests"
down_revision: Union[str, Sequence[str], None] = "0001_service"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("manifests"):
        return
    op.create_table(
        "manifests",
        sa.Column("manifest_id", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=True),
        sa.Column("watermark_scheme", sa.String(100), nullable=True),
        sa.Column("watermark_value", sa.String(200), nullable=True),
        sa.Column("phash", sa.String(16), nullable=True),
        *[sa.Column(f"b{i}", sa.Integer(), nullable=True) for i in range(8)],
        sa.Column("validation_state", sa.String(20), nullable=True),
        sa.Column("manifest_store", sa.Text(), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=True),
        sa.Column("signer_chain_pem", sa.Text(), nullable=True),
        sa.UniqueConstraint("watermark_scheme", "watermark_value", name="uq_manifests_watermark"),
    )
    op.create_index("ix_manifests_watermark", "manifests", ["watermark_scheme", "watermark_value"])
    for i in range(8):
        op.create_index(f"ix_manifests_b{i}", "manifests", [f"b{i}"])


def downgrade() -> None:
    op.drop_table("manifests")
