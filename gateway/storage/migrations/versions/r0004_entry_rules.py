"""Entry rules: contracts, duress PINs, recertification, training, work orders, presence, modes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

Issue 3 (4-8-7(1)(2)(3), 4-8-3, 4-8-9): the data the server-room rules decide on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns and tables of the entry rules."""
    utc = sa.DateTime(timezone=True)
    with op.batch_alter_table("person") as t:
        t.add_column(sa.Column("contract_end", utc, nullable=True))
    with op.batch_alter_table("credential") as t:
        t.add_column(sa.Column("duress_pin_hash", sa.String(length=255), nullable=True))
    with op.batch_alter_table("authorization") as t:
        t.add_column(sa.Column("recertified_by", sa.String(length=64), nullable=True))
        t.add_column(sa.Column("recertified_at", utc, nullable=True))
        t.add_column(
            sa.Column("supervisor", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "training_record",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("course", sa.String(length=63), nullable=False),
        sa.Column("completed_at", utc, nullable=False),
        sa.Column("valid_until", utc, nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_training_record_site_id", "training_record", ["site_id"])
    op.create_index("ix_training_record_person_id", "training_record", ["person_id"])
    op.create_table(
        "work_order",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("zone_id", sa.String(length=63), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("valid_from", utc, nullable=False),
        sa.Column("valid_to", utc, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", utc, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", utc, nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_work_order_site_id", "work_order", ["site_id"])
    op.create_index("ix_work_order_person_id", "work_order", ["person_id"])
    op.create_table(
        "presence",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("zone_id", sa.String(length=63), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("person_kind", sa.String(length=16), nullable=False),
        sa.Column("inside", sa.Boolean(), nullable=False),
        sa.Column("since", utc, nullable=False),
        sa.Column("last_in", utc, nullable=True),
        sa.Column("escorted_by", sa.String(length=32), nullable=True),
        sa.Column("entry_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "zone_id", "person_id"),
    )
    op.create_table(
        "door_mode_state",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("door_id", sa.String(length=63), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("lockdown", sa.Boolean(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", utc, nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "door_id"),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("door_mode_state")
    op.drop_table("presence")
    op.drop_index("ix_work_order_person_id", "work_order")
    op.drop_index("ix_work_order_site_id", "work_order")
    op.drop_table("work_order")
    op.drop_index("ix_training_record_person_id", "training_record")
    op.drop_index("ix_training_record_site_id", "training_record")
    op.drop_table("training_record")
    with op.batch_alter_table("authorization") as t:
        t.drop_column("supervisor")
        t.drop_column("recertified_at")
        t.drop_column("recertified_by")
    with op.batch_alter_table("credential") as t:
        t.drop_column("duress_pin_hash")
    with op.batch_alter_table("person") as t:
        t.drop_column("contract_end")
