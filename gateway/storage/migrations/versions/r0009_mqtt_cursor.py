"""MQTT record cursor: record events are read from the record log, not copied to the outbox.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26

Issue 9 (ingest with MQTT on). The broker's delivery point in each site's record log: records
after ``delivered_seq`` that are published as events wait in the log itself (never a second
copy); ``mqtt_outbox`` keeps the other events (alarm transitions). Rows of ``mqtt_outbox`` left
by an older version (record events included) are still delivered from there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``mqtt_cursor``: one row per site, the last record seq the broker acknowledged."""
    op.create_table(
        "mqtt_cursor",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("delivered_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id"),
    )


def downgrade() -> None:
    """Drop the cursor (an older version copies record events into the outbox again)."""
    op.drop_table("mqtt_cursor")
