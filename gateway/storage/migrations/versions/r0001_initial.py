"""Initial schema: master data, credential state and the append-only record log.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Also installs the storage-level guard that makes ``record`` append-only (4-8-6(4)): triggers
that abort any UPDATE or DELETE (and on PostgreSQL TRUNCATE) of a record, whoever asks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = "record is append-only"

_SQLITE_GUARD = (
    f"CREATE TRIGGER record_no_update BEFORE UPDATE ON record "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    f"CREATE TRIGGER record_no_delete BEFORE DELETE ON record "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
)

_POSTGRES_GUARD = (
    f"""CREATE FUNCTION record_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege';
END
$$""",
    "CREATE TRIGGER record_no_update_delete BEFORE UPDATE OR DELETE ON record "
    "FOR EACH ROW EXECUTE FUNCTION record_append_only()",
    "CREATE TRIGGER record_no_truncate BEFORE TRUNCATE ON record "
    "FOR EACH STATEMENT EXECUTE FUNCTION record_append_only()",
)


def upgrade() -> None:
    """Create every table, its indexes and the append-only guard on ``record``."""
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "person",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.Column("employee_no", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_person_site_id", "person", ["site_id"])

    op.create_table(
        "credential",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("facility", sa.Integer(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),  # EM4100: 32-bit unsigned
        sa.Column("card_key", sa.String(length=64), nullable=False),
        sa.Column("pin_hash", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("valid_from", utc, nullable=True),
        sa.Column("valid_to", utc, nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "card_key", name="uq_credential_card"),
    )
    op.create_index("ix_credential_site_id", "credential", ["site_id"])
    op.create_index("ix_credential_person_id", "credential", ["person_id"])

    op.create_table(
        "authorization",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("zone_id", sa.String(length=63), nullable=False),
        sa.Column("schedule_id", sa.String(length=63), nullable=False),
        sa.Column("valid_from", utc, nullable=True),
        sa.Column("valid_to", utc, nullable=True),
        sa.Column("purpose", sa.String(length=500), nullable=True),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("granted_at", utc, nullable=False),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", utc, nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_authorization_site_id", "authorization", ["site_id"])
    op.create_index("ix_authorization_person_id", "authorization", ["person_id"])

    op.create_table(
        "account",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=True),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "username", name="uq_account_username"),
    )
    op.create_index("ix_account_site_id", "account", ["site_id"])

    op.create_table(
        "credential_state",
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("pin_failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", utc, nullable=True),
        sa.PrimaryKeyConstraint("credential_id"),
    )
    op.create_index("ix_credential_state_site_id", "credential_state", ["site_id"])

    op.create_table(
        "record",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("ts", utc, nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("door_id", sa.String(length=63), nullable=True),
        sa.Column("zone_id", sa.String(length=63), nullable=True),
        sa.Column("reader_id", sa.String(length=63), nullable=True),
        sa.Column("person_id", sa.String(length=32), nullable=True),
        sa.Column("person_kind", sa.String(length=16), nullable=True),
        sa.Column("credential", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=48), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "seq"),
    )
    op.create_index("ix_record_site_ts", "record", ["site_id", "ts"])
    op.create_index("ix_record_site_person_ts", "record", ["site_id", "person_id", "ts"])
    op.create_index("ix_record_site_door_ts", "record", ["site_id", "door_id", "ts"])
    op.create_index("ix_record_site_kind_ts", "record", ["site_id", "kind", "ts"])

    guard = _POSTGRES_GUARD if op.get_bind().dialect.name == "postgresql" else _SQLITE_GUARD
    for statement in guard:
        op.execute(statement)


def downgrade() -> None:
    """Drop everything revision 0001 created (for development databases only)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS record_no_truncate ON record")
        op.execute("DROP TRIGGER IF EXISTS record_no_update_delete ON record")
        op.execute("DROP FUNCTION IF EXISTS record_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS record_no_delete")
        op.execute("DROP TRIGGER IF EXISTS record_no_update")
    for table in ("record", "credential_state", "account", "authorization", "credential", "person"):
        op.drop_table(table)  # children before the person table they point at
