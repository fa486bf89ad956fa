"""manifest store bytes (application/c2pa) in the manifest repository

Revision ID: 0003_manifest_store_bytes
Revises: 0002_manifests
Create Date: 2026-12-01

Recovery re-validates a stored manifest with c2pa's Reader, which needs the binary store that
Builder.sign returns. Older rows keep NULL and are re-checked against the stored certificate chain.
ManifestRepository adds the column itself when it opens an older repository for writing, so this revision
adds it only where it is missing.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003_manifest_store_bytes"
down_revision: Union[str, Sequence[str], None] = "0002_manifests"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("manifests")}
    if "manifest_store_c2pa" in columns:
        return
    with op.batch_alter_table("manifests") as batch:
        batch.add_column(sa.Column("manifest_store_c2pa", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("manifests") as batch:
        batch.drop_column("manifest_store_c2pa")
