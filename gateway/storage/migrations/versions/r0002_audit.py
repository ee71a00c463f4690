"""Tamper-evident records: commitments, Merkle tiles, signed checkpoints, the purge-only guard.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Adds to ``record`` the salt, the commitment and ``purged_by``; creates ``audit_node`` (stored
Merkle subtree hashes) and ``audit_checkpoint`` (signed checkpoints); computes commitments and
tiles for records written before this revision; and replaces the append-only guard of 0001
with one that still refuses every DELETE (and TRUNCATE) but lets exactly one kind of UPDATE
through: a retention purge, which blanks the personal fields and the salt of a record, names an
existing ``audit.purge`` record written after it, and changes nothing else (4-8-6(3)(4)).
On PostgreSQL ``record_purge()`` (SECURITY DEFINER) is the only way an application role that
holds INSERT and SELECT alone on the log can purge (see ``gateway.audit.pg_role``).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from gateway.audit.entry import canonical_entry, commitment, detail_text, new_salt
from gateway.audit.merkle import Frontier, Subtree, leaf_hash
from gateway.audit.stored import stored_ts_text
from gateway.audit.tree_store import TILE_HEIGHT

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = "record is append-only"

# The one UPDATE the guard lets through: a purge-shaped change, once, naming a purge record.
_PURGE_SHAPED = """
    OLD.salt IS NOT NULL AND NEW.salt IS NULL
    AND OLD.purged_by IS NULL AND NEW.purged_by IS NOT NULL AND NEW.purged_by > OLD.seq
    AND NEW.site_id = OLD.site_id AND NEW.seq = OLD.seq AND NEW.ts = OLD.ts
    AND NEW.kind = OLD.kind AND NEW.commitment = OLD.commitment
    AND NEW.door_id IS NOT DISTINCT FROM OLD.door_id
    AND NEW.zone_id IS NOT DISTINCT FROM OLD.zone_id
    AND NEW.reader_id IS NOT DISTINCT FROM OLD.reader_id
    AND NEW.person_kind IS NOT DISTINCT FROM OLD.person_kind
    AND NEW.direction IS NOT DISTINCT FROM OLD.direction
    AND NEW.outcome IS NOT DISTINCT FROM OLD.outcome
    AND NEW.reason IS NOT DISTINCT FROM OLD.reason
    AND NEW.person_id IS NULL AND NEW.credential IS NULL AND NEW.actor IS NULL
    AND DETAIL_EMPTY
    AND EXISTS (SELECT 1 FROM record p WHERE p.site_id = NEW.site_id
                AND p.seq = NEW.purged_by AND p.kind = 'audit.purge')
"""

_SQLITE_GUARD = (
    "CREATE TRIGGER record_no_update BEFORE UPDATE ON record WHEN NOT ("
    + _PURGE_SHAPED.replace("DETAIL_EMPTY", "NEW.detail = '{}'").replace(
        "IS NOT DISTINCT FROM", "IS"
    )
    + f") BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    f"CREATE TRIGGER record_no_delete BEFORE DELETE ON record "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    f"CREATE TRIGGER audit_node_no_update BEFORE UPDATE ON audit_node "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    f"CREATE TRIGGER audit_node_no_delete BEFORE DELETE ON audit_node "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    f"CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    f"CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
)

# The purge path for an application role without UPDATE on record: runs as the owner, and
# the guard still checks every row it touches.
_RECORD_PURGE = """
CREATE FUNCTION record_purge(p_site varchar, p_purge_seq integer, p_seqs integer[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    purged integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM record WHERE site_id = p_site AND seq = p_purge_seq
                   AND kind = 'audit.purge') THEN
        RAISE EXCEPTION 'record % of site % is not a purge record', p_purge_seq, p_site
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE record SET person_id = NULL, credential = NULL, actor = NULL,
                      detail = '{}'::json, salt = NULL, purged_by = p_purge_seq
     WHERE site_id = p_site AND seq = ANY(p_seqs) AND salt IS NOT NULL AND seq < p_purge_seq;
    GET DIAGNOSTICS purged = ROW_COUNT;
    RETURN purged;
END
$$"""

_PG_PURGE_SHAPED = _PURGE_SHAPED.replace("DETAIL_EMPTY", "NEW.detail::text = '{}'")

_POSTGRES_GUARD = (
    f"""CREATE FUNCTION record_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND ({_PG_PURGE_SHAPED}) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege';
END
$$""",
    "CREATE TRIGGER record_no_update_delete BEFORE UPDATE OR DELETE ON record "
    "FOR EACH ROW EXECUTE FUNCTION record_guard()",
    "CREATE TRIGGER audit_node_no_update_delete BEFORE UPDATE OR DELETE ON audit_node "
    "FOR EACH ROW EXECUTE FUNCTION record_append_only()",
    "CREATE TRIGGER audit_node_no_truncate BEFORE TRUNCATE ON audit_node "
    "FOR EACH STATEMENT EXECUTE FUNCTION record_append_only()",
    "CREATE TRIGGER audit_checkpoint_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoint "
    "FOR EACH ROW EXECUTE FUNCTION record_append_only()",
    "CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint "
    "FOR EACH STATEMENT EXECUTE FUNCTION record_append_only()",
    _RECORD_PURGE,
    "REVOKE ALL ON FUNCTION record_purge(varchar, integer, integer[]) FROM PUBLIC",
)

_BACKFILL_CHUNK = 5000


def upgrade() -> None:
    """Add the audit columns and tables, hash the records already there, install the guard."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS record_no_update_delete ON record")
    else:
        op.execute("DROP TRIGGER IF EXISTS record_no_update")
        op.execute("DROP TRIGGER IF EXISTS record_no_delete")
    op.add_column("record", sa.Column("salt", sa.LargeBinary(length=16), nullable=True))
    op.add_column("record", sa.Column("commitment", sa.LargeBinary(length=32), nullable=True))
    op.add_column("record", sa.Column("purged_by", sa.Integer(), nullable=True))
    op.create_table(
        "audit_node",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "level", "idx"),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "size"),
    )
    _backfill()
    for statement in _POSTGRES_GUARD if postgres else _SQLITE_GUARD:
        op.execute(statement)


def _backfill() -> None:
    """Salt, commit and hash every record written before this revision, site by site."""
    conn = op.get_bind()
    sites = [row[0] for row in conn.execute(sa.text("SELECT DISTINCT site_id FROM record"))]
    for site_id in sites:
        nodes: list[Subtree] = []
        frontier = Frontier(stride=TILE_HEIGHT, on_node=nodes.append)
        last = 0
        while True:
            rows = (
                conn.execute(
                    sa.text(
                        "SELECT seq, ts, kind, door_id, zone_id, reader_id, person_id, person_kind,"
                        " credential, direction, outcome, reason, actor, detail FROM record"
                        " WHERE site_id = :site AND seq > :last ORDER BY seq LIMIT :n"
                    ),
                    {"site": site_id, "last": last, "n": _BACKFILL_CHUNK},
                )
                .mappings()
                .all()
            )
            if not rows:
                break
            updates = []
            for row in rows:
                seq = int(row["seq"])
                if seq != last + 1:
                    raise RuntimeError(
                        f"record log of {site_id!r} has a gap before seq {seq}: "
                        "it cannot be hashed into a tree; restore it from a backup first"
                    )
                last = seq
                salt, digest = _committed(site_id, row)
                updates.append({"salt": salt, "c": digest, "site": site_id, "seq": seq})
                frontier.append(leaf_hash(digest))
            conn.execute(
                sa.text(
                    "UPDATE record SET salt = :salt, commitment = :c"
                    " WHERE site_id = :site AND seq = :seq"
                ),
                updates,
            )
        if nodes:
            conn.execute(
                sa.text(
                    "INSERT INTO audit_node (site_id, level, idx, hash) VALUES (:s, :l, :i, :h)"
                ),
                [{"s": site_id, "l": n.level, "i": n.index, "h": n.hash} for n in nodes],
            )


def _committed(site_id: str, row: Any) -> tuple[bytes, bytes]:
    """A new salt for one stored record, and its commitment."""
    fields = dict(row)
    detail = fields["detail"]
    if isinstance(detail, str):
        detail = json.loads(detail)
    entry = canonical_entry(
        site_id, int(row["seq"]), stored_ts_text(row["ts"]), fields, detail_text(detail)
    )
    salt = new_salt()
    return salt, commitment(salt, entry)


def downgrade() -> None:
    """Back to revision 0001 (development databases only): the purge guard becomes strict."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS record_purge(varchar, integer, integer[])")
        op.execute("DROP TRIGGER IF EXISTS record_no_update_delete ON record")
        op.execute("DROP FUNCTION IF EXISTS record_guard()")
    else:
        for name in ("record_no_update", "record_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_node")
    with op.batch_alter_table("record") as batch:
        batch.drop_column("purged_by")
        batch.drop_column("commitment")
        batch.drop_column("salt")
    if postgres:
        op.execute(
            "CREATE TRIGGER record_no_update_delete BEFORE UPDATE OR DELETE ON record "
            "FOR EACH ROW EXECUTE FUNCTION record_append_only()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER record_no_update BEFORE UPDATE ON record "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
        op.execute(
            f"CREATE TRIGGER record_no_delete BEFORE DELETE ON record "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
