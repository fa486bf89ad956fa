"""manifests.content_descriptor: what the registered image looks like (forensics.provenance.content_match)

Revision ID: 0004_content_descriptor
Revises: 0003_manifest_store_bytes
Create Date: 2026-12-01

Lets recovery check that an image whose watermark points to a manifest is a derived copy of the image the
manifest was issued for. Nullable: records made before it answer ``content_match: null``.
ManifestRepository adds the column itself when a writer opens an older repository, so this revision adds
it only where it is missing.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004_content_descriptor"
down_revision: Union[str, Sequence[str], None] = "0003_manifest_store_bytes"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _columns() -> set[str]:
    insp = sa.inspect(op.get_bind())
    if not insp.has_table("manifests"):
        return set()
    return {c["name"] for c in insp.get_columns("manifests")}


def upgrade() -> None:
    cols = _columns()
    if cols and "content_descriptor" not in cols:
        op.add_column("manifests", sa.Column("content_descriptor", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    if "content_descriptor" in _columns():
        with op.batch_alter_table("manifests") as batch:
            batch.drop_column("content_descriptor")
