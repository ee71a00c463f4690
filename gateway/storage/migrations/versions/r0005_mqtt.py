"""MQTT outbox: events waiting for the broker, delivered in order and then deleted.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Issue 6 (MQTT bus). Not the record log: rows are deleted once the broker has them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``mqtt_outbox`` with an id that only grows (delivery order)."""
    op.create_table(
        "mqtt_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_mqtt_outbox_site_id_id", "mqtt_outbox", ["site_id", "id"])


def downgrade() -> None:
    """Drop the outbox (undelivered events with it)."""
    op.drop_index("ix_mqtt_outbox_site_id_id", table_name="mqtt_outbox")
    op.drop_table("mqtt_outbox")
