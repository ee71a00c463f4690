"""Visitors, contractors and media custody: visits, contracts, the media registry and ledger.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-28

Issue 5 (4-8-7(1), 4-8-5(4)-(9), 4-8-9, 4-8-12(2)).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def _id() -> sa.Column[str]:
    """The 32-hex-digit primary key."""
    return sa.Column("id", sa.String(length=32), nullable=False)


def _site() -> sa.Column[str]:
    """The site id every row carries."""
    return sa.Column("site_id", sa.String(length=63), nullable=False)


def upgrade() -> None:
    """Create the tables of visits, contractors and media custody."""
    utc = sa.DateTime(timezone=True)
    s = sa.String
    op.create_table(
        "visit",
        _id(),
        _site(),
        sa.Column("visitor_id", s(length=32), nullable=False),
        sa.Column("host_id", s(length=32), nullable=False),
        sa.Column("purpose", s(length=500), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("valid_from", utc, nullable=False),
        sa.Column("valid_to", utc, nullable=False),
        sa.Column("status", s(length=16), nullable=False),
        sa.Column("requested_by", s(length=64), nullable=False),
        sa.Column("requested_at", utc, nullable=False),
        sa.Column("approvals", sa.JSON(), nullable=False),
        sa.Column("decided_by", s(length=64), nullable=True),
        sa.Column("decided_at", utc, nullable=True),
        sa.Column("decision_note", s(length=500), nullable=True),
        sa.Column("id_document_type", s(length=32), nullable=True),
        sa.Column("id_document_last", s(length=4), nullable=True),
        sa.Column("photo_evidence_seq", sa.BigInteger(), nullable=True),
        sa.Column("photo_sha256", s(length=64), nullable=True),
        sa.Column("escort_id", s(length=32), nullable=True),
        sa.Column("credential_id", s(length=32), nullable=True),
        sa.Column("card_masked", s(length=64), nullable=True),
        sa.Column("checked_in_at", utc, nullable=True),
        sa.Column("checked_in_by", s(length=64), nullable=True),
        sa.Column("checked_out_at", utc, nullable=True),
        sa.Column("checked_out_by", s(length=64), nullable=True),
        sa.Column("credential_returned", sa.Boolean(), nullable=True),
        sa.Column("overstay_at", utc, nullable=True),
        sa.ForeignKeyConstraint(["visitor_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["host_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["escort_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_visit_site_from", "visit", ["site_id", "valid_from"])
    op.create_index("ix_visit_visitor_id", "visit", ["visitor_id"])
    op.create_table(
        "contractor",
        sa.Column("person_id", s(length=32), nullable=False),
        _site(),
        sa.Column("company", s(length=200), nullable=False),
        sa.Column("contract_ref", s(length=100), nullable=True),
        sa.Column("confidentiality_on_file", sa.Boolean(), nullable=False),
        sa.Column("confidentiality_date", sa.Date(), nullable=True),
        sa.Column("last_inspection_date", sa.Date(), nullable=True),
        sa.Column("last_inspection_note", s(length=500), nullable=True),
        sa.Column("recorded_at", utc, nullable=False),
        sa.Column("updated_by", s(length=64), nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_index("ix_contractor_site_id", "contractor", ["site_id"])
    _media_tables(utc)


def _media_tables(utc: sa.DateTime) -> None:
    """The registry, requests, inspections, ledger, disposals and inventories."""
    s = sa.String
    op.create_table(
        "media_item",
        _id(),
        _site(),
        sa.Column("kind", s(length=16), nullable=False),
        sa.Column("tag", s(length=64), nullable=False),
        sa.Column("serial", s(length=64), nullable=True),
        sa.Column("rfid", s(length=64), nullable=True),
        sa.Column("description", s(length=200), nullable=False),
        sa.Column("owner_id", s(length=32), nullable=True),
        sa.Column("classification", s(length=16), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("home_zone", s(length=63), nullable=True),
        sa.Column("home_location", s(length=200), nullable=True),
        sa.Column("state", s(length=16), nullable=False),
        sa.Column("zone_id", s(length=63), nullable=True),
        sa.Column("holder_id", s(length=32), nullable=True),
        sa.Column("request_id", s(length=32), nullable=True),
        sa.Column("due_back", utc, nullable=True),
        sa.Column("overdue_since", utc, nullable=True),
        sa.Column("registered_by", s(length=64), nullable=False),
        sa.Column("registered_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "tag", name="uq_media_item_tag"),
        sa.UniqueConstraint("site_id", "rfid", name="uq_media_item_rfid"),
    )
    op.create_index("ix_media_item_site_id", "media_item", ["site_id"])
    op.create_table(
        "media_request",
        _id(),
        _site(),
        sa.Column("item_id", s(length=32), nullable=False),
        sa.Column("direction", s(length=8), nullable=False),
        sa.Column("zone_id", s(length=63), nullable=False),
        sa.Column("person_id", s(length=32), nullable=False),
        sa.Column("purpose", s(length=500), nullable=False),
        sa.Column("destination", s(length=200), nullable=True),
        sa.Column("return_by", utc, nullable=True),
        sa.Column("valid_from", utc, nullable=False),
        sa.Column("valid_to", utc, nullable=False),
        sa.Column("status", s(length=16), nullable=False),
        sa.Column("requested_by", s(length=64), nullable=False),
        sa.Column("requested_at", utc, nullable=False),
        sa.Column("decided_by", s(length=64), nullable=True),
        sa.Column("decided_at", utc, nullable=True),
        sa.Column("decision_note", s(length=500), nullable=True),
        sa.Column("used_at", utc, nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["media_item.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_media_request_site_item", "media_request", ["site_id", "item_id"])
    op.create_table(
        "media_inspection",
        _id(),
        _site(),
        sa.Column("item_id", s(length=32), nullable=True),
        sa.Column("tag_seen", s(length=64), nullable=False),
        sa.Column("direction", s(length=8), nullable=False),
        sa.Column("zone_id", s(length=63), nullable=False),
        sa.Column("door_id", s(length=63), nullable=True),
        sa.Column("person_id", s(length=32), nullable=True),
        sa.Column("request_id", s(length=32), nullable=True),
        sa.Column("result", s(length=8), nullable=False),
        sa.Column("outcome", s(length=24), nullable=False),
        sa.Column("refusal", s(length=48), nullable=True),
        sa.Column("notes", s(length=500), nullable=True),
        sa.Column("inspected_by", s(length=64), nullable=False),
        sa.Column("inspected_at", utc, nullable=False),
        sa.Column("second_by", s(length=64), nullable=True),
        sa.Column("second_at", utc, nullable=True),
        sa.Column("second_result", s(length=8), nullable=True),
        sa.Column("second_notes", s(length=500), nullable=True),
        sa.Column("movement_id", s(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_media_inspection_site_at", "media_inspection", ["site_id", "inspected_at"])
    op.create_table(
        "media_movement",
        _id(),
        _site(),
        sa.Column("line", sa.BigInteger(), nullable=False),
        sa.Column("item_id", s(length=32), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("movement", s(length=24), nullable=False),
        sa.Column("state_from", s(length=16), nullable=True),
        sa.Column("state_to", s(length=16), nullable=False),
        sa.Column("location_from", s(length=200), nullable=True),
        sa.Column("location_to", s(length=200), nullable=True),
        sa.Column("zone_id", s(length=63), nullable=True),
        sa.Column("person_id", s(length=32), nullable=True),
        sa.Column("request_id", s(length=32), nullable=True),
        sa.Column("inspection_id", s(length=32), nullable=True),
        sa.Column("actor", s(length=64), nullable=False),
        sa.Column("second_actor", s(length=64), nullable=True),
        sa.Column("note", s(length=500), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["media_item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "line", name="uq_media_movement_line"),
    )
    op.create_index("ix_media_movement_site_at", "media_movement", ["site_id", "at"])
    op.create_index("ix_media_movement_item_at", "media_movement", ["item_id", "at"])
    op.create_table(
        "media_disposal",
        sa.Column("item_id", s(length=32), nullable=False),
        _site(),
        sa.Column("method", s(length=32), nullable=False),
        sa.Column("method_detail", s(length=500), nullable=True),
        sa.Column("performed_by", s(length=200), nullable=False),
        sa.Column("witness_id", s(length=32), nullable=True),
        sa.Column("photo_evidence_seq", sa.BigInteger(), nullable=True),
        sa.Column("photo_sha256", s(length=64), nullable=True),
        sa.Column("certificate_id", s(length=32), nullable=True),
        sa.Column("certificate_sha256", s(length=64), nullable=True),
        sa.Column("disposed_at", utc, nullable=False),
        sa.Column("recorded_by", s(length=64), nullable=False),
        sa.Column("recorded_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["media_item.id"]),
        sa.ForeignKeyConstraint(["witness_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index("ix_media_disposal_site_id", "media_disposal", ["site_id"])
    op.create_table(
        "media_certificate",
        _id(),
        _site(),
        sa.Column("item_id", s(length=32), nullable=False),
        sa.Column("sha256", s(length=64), nullable=False),
        sa.Column("filename", s(length=200), nullable=False),
        sa.Column("content_type", s(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("stored_by", s(length=64), nullable=False),
        sa.Column("stored_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["media_item.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_media_certificate_site_id", "media_certificate", ["site_id"])
    op.create_table(
        "media_inventory",
        _id(),
        _site(),
        sa.Column("zone_id", s(length=63), nullable=False),
        sa.Column("status", s(length=16), nullable=False),
        sa.Column("started_by", s(length=64), nullable=False),
        sa.Column("started_at", utc, nullable=False),
        sa.Column("completed_by", s(length=64), nullable=True),
        sa.Column("completed_at", utc, nullable=True),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_media_inventory_site_zone", "media_inventory", ["site_id", "zone_id"])
    op.create_table(
        "media_inventory_scan",
        _id(),
        _site(),
        sa.Column("inventory_id", s(length=32), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("tag", s(length=64), nullable=False),
        sa.Column("item_id", s(length=32), nullable=True),
        sa.Column("source", s(length=8), nullable=False),
        sa.Column("reader_id", s(length=63), nullable=True),
        sa.Column("scanned_by", s(length=64), nullable=False),
        sa.ForeignKeyConstraint(["inventory_id"], ["media_inventory.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_media_inventory_scan_inventory_id", "media_inventory_scan", ["inventory_id"]
    )
    op.create_table(
        "media_inventory_plan",
        _site(),
        sa.Column("zone_id", s(length=63), nullable=False),
        sa.Column("since", utc, nullable=False),
        sa.Column("missed_due", utc, nullable=True),
        sa.PrimaryKeyConstraint("site_id", "zone_id"),
    )


def downgrade() -> None:
    """Drop them (children first)."""
    for table in (
        "media_inventory_plan",
        "media_inventory_scan",
        "media_inventory",
        "media_certificate",
        "media_disposal",
        "media_movement",
        "media_inspection",
        "media_request",
        "media_item",
        "contractor",
        "visit",
    ):
        op.drop_table(table)
