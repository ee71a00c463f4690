"""Alarms and incidents: the alarm console's state, incidents, their timeline and deadlines.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

The record log stays the history (every alarm and incident transition is a record); these
tables hold the working state that must survive a restart (4-8-7(4)(5), 4-8-11).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the alarm, incident, incident_step and incident_deadline tables."""
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "alarm",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=160), nullable=False),
        sa.Column("zone_id", sa.String(length=63), nullable=True),
        sa.Column("door_id", sa.String(length=63), nullable=True),
        sa.Column("raised_at", utc, nullable=False),
        sa.Column("last_at", utc, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("condition_active", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", utc, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", utc, nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("escalate_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alarm_site_closed", "alarm", ["site_id", "closed_at"])

    op.create_table(
        "incident",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=True),
        sa.Column("zone_id", sa.String(length=63), nullable=True),
        sa.Column("alarm_id", sa.String(length=32), nullable=True),
        sa.Column("opened_at", utc, nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("personal_data", sa.Boolean(), nullable=False),
        sa.Column("personal_data_at", utc, nullable=True),
        sa.Column("root_cause", sa.String(length=4000), nullable=True),
        sa.Column("measures", sa.String(length=4000), nullable=True),
        sa.Column("closed_at", utc, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_site_opened", "incident", ["site_id", "opened_at"])

    op.create_table(
        "incident_step",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("text", sa.String(length=4000), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_step_incident_id", "incident_step", ["incident_id"])

    op.create_table(
        "incident_deadline",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=63), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("due_at", utc, nullable=False),
        sa.Column("done_at", utc, nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("incident_id", "step"),
    )


def downgrade() -> None:
    """Drop what revision 0003 created (for development databases only)."""
    for table in ("incident_deadline", "incident_step", "incident", "alarm"):
        op.drop_table(table)  # children before the incident table they point at
