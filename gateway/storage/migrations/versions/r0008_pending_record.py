"""Operator-record outbox: records staged in the same transaction as the API change they record.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

Never a lost record (4-8-6(4)): a crash between an API change's commit and its record's append
leaves the record here, and the next start appends it. Not the record log: rows are deleted
once their record is in the log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``pending_record`` with an id that only grows (append order, intent ids)."""
    op.create_table(
        "pending_record",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_pending_record_site_id_id", "pending_record", ["site_id", "id"])


def downgrade() -> None:
    """Drop the outbox (records not yet appended with it)."""
    op.drop_index("ix_pending_record_site_id_id", table_name="pending_record")
    op.drop_table("pending_record")
