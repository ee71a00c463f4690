"""Retention purges (4-8-6(3)): personal fields go, proofs stay, the purge is itself recorded.

Runs on SQLite and PostgreSQL. The storage guard lets a purge-shaped change through and
nothing else; on PostgreSQL the application role appends and reads the log, and purges only
through ``record_purge()``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from api.accounts import create_account
from gateway.audit.config import RetentionConfig
from gateway.audit.merkle import inclusion_proof, leaf_hash, verify_inclusion
from gateway.audit.note import Signer
from gateway.audit.pg_role import app_role_sql, setup_app_role
from gateway.audit.retention import PurgeRefused, plan_purge, purge, purge_blocking
from gateway.audit.tree_store import DbTree
from gateway.audit.verify import verify_log
from gateway.records import NewRecord, RecordKind
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import RECORD_TABLE
from gateway.storage.record_log import RecordLog
from tests.conftest import PG_ADMIN_DSN
from tests.gateway.audit.audit_support import ORIGIN, SITE, T0, append_all, policy, record

POLICY = RetentionConfig(days=30, kinds={"door.forced": 10}, approved_by="chief")
NOW = T0 + timedelta(days=30, hours=12)  # access records of the first 12 h are past 30 days


def _chief(engine: Engine, username: str = "chief", role: str = "chief") -> None:
    """An account that may approve the policy."""
    with Session(engine) as session:
        create_account(session, SITE, username, "correct horse battery staple", role)
        session.commit()


@pytest.fixture
def signer() -> Signer:
    """The checkpoint key."""
    return Signer.generate(ORIGIN)


@pytest.fixture
def log(engine: Engine, signer: Signer) -> Iterator[RecordLog]:
    """A started, signed log holding 2000 access records one minute apart, and 3 forced doors."""
    started = RecordLog(engine, SITE, checkpoints=policy(signer, every=250))
    started.start()
    records = [record(i) for i in range(2000)] + [
        NewRecord(RecordKind.DOOR_FORCED, T0 + timedelta(days=d), door_id="d0") for d in (1, 15, 30)
    ]
    asyncio.run(append_all(started, records))
    yield started
    started.close(timeout=30)


def test_purge_blanks_personal_fields_keeps_proofs_and_is_recorded(
    engine: Engine, log: RecordLog, signer: Signer
) -> None:
    """720 access records (12 h) and 2 forced-door records are purged, the rest untouched;
    every inclusion proof against the pre-purge root still verifies; the log verifies."""
    _chief(engine)
    root_before = log.tree_root
    plan = plan_purge(engine, SITE, POLICY, NOW)
    assert plan.counts["access.decision"] == 720 and plan.counts["door.forced"] == 2
    assert plan.counts.get("audit.purge") is None  # the audit trail is never purged
    result = purge_blocking(
        engine, SITE, POLICY, approver=None, now=NOW, append=lambda r: log.submit(r).result(30)
    )
    assert result.purged == 722 and result.purge_seq == 2004
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(RECORD_TABLE)
                .where(RECORD_TABLE.c.site_id == SITE)
                .order_by(RECORD_TABLE.c.seq)
            )
            .mappings()
            .all()
        )
        purged = [r for r in rows if r["purged_by"] is not None]
        assert len(purged) == 722
        for r in purged:
            assert (r["person_id"], r["credential"], r["actor"], r["salt"]) == (
                None,
                None,
                None,
                None,
            )
            assert r["detail"] == {} and r["purged_by"] == 2004
            assert r["door_id"] is not None  # what is no one's stays
            assert r["outcome"] is not None or r["kind"] == "door.forced"
        kept = rows[800]
        assert kept["person_id"] is not None and kept["salt"] is not None
        purge_row = rows[2003]
        assert purge_row["kind"] == "audit.purge" and purge_row["actor"] == "chief"
        assert purge_row["detail"]["approved_by"] == "chief"
        assert purge_row["detail"]["records"] == 722
        assert purge_row["detail"]["cutoffs"]["access.decision"].startswith("2026-11-02T12:00")
        db = DbTree(conn, SITE, 2003)
        for index in (0, 5, 719, 720, 1999, 2002):
            verify_inclusion(
                index, 2003, leaf_hash(bytes(rows[index]["commitment"])),
                inclusion_proof(db, index, 2003), root_before,
            )  # fmt: skip
    report = verify_log(engine, SITE, keys=[signer.verifier()], origin=ORIGIN)
    assert report.ok, report.problems
    assert report.purged == 722
    again = purge_blocking(
        engine, SITE, POLICY, approver=None, now=NOW, append=lambda r: log.submit(r).result(30)
    )
    assert again.purged == 0 and again.purge_seq is None  # nothing left: nothing recorded


async def test_the_scheduled_path_purges_from_the_event_loop(
    engine: Engine, signer: Signer
) -> None:
    """The async purge (the gateway's schedule) writes the record through the log and purges."""
    _chief(engine)
    started = RecordLog(engine, SITE, checkpoints=policy(signer, every=250))
    started.start()
    try:
        await append_all(started, [record(i) for i in range(50)])
        result = await purge(engine, SITE, POLICY, approver=None, now=NOW, append=started.append)
        assert (result.purged, result.purge_seq) == (50, 51)
    finally:
        started.close()


def test_a_purge_needs_an_enabled_chief(engine: Engine, log: RecordLog) -> None:
    """No approver, an unknown one, or one who is not a chief: refused, nothing written."""
    _chief(engine, "aud", role="auditor")
    for approver, policy_ in (
        (None, RetentionConfig(days=30)),
        ("nobody", POLICY),
        ("aud", POLICY),
    ):
        with pytest.raises(PurgeRefused):
            purge_blocking(
                engine, SITE, policy_, approver=approver, now=NOW,
                append=lambda r: log.submit(r).result(30),
            )  # fmt: skip
    assert log.last_seq == 2003


def test_the_guard_lets_only_a_purge_shaped_change_through(engine: Engine, log: RecordLog) -> None:
    """Editing a field, deleting a row, blanking without naming a purge record, or blanking
    while changing the outcome: each refused by the database itself."""
    _chief(engine)
    seq = purge_blocking(
        engine, SITE, RetentionConfig(days=10_000, approved_by="chief"), approver=None,
        now=NOW, append=lambda r: log.submit(r).result(30),
    ).purge_seq  # fmt: skip
    assert seq is None
    purge_seq = log.submit(NewRecord(RecordKind.AUDIT_PURGE, NOW, actor="chief")).result(30)
    blank = "person_id = NULL, credential = NULL, actor = NULL, detail = '{}', salt = NULL"
    attempts = [
        "UPDATE record SET outcome = 'granted' WHERE seq = 6",
        "DELETE FROM record WHERE seq = 6",
        f"UPDATE record SET {blank} WHERE seq = 6",  # names no purge
        f"UPDATE record SET {blank}, purged_by = 3 WHERE seq = 6",  # 3 is no purge record
        f"UPDATE record SET {blank}, purged_by = {purge_seq}, outcome = 'x' WHERE seq = 6",
        f"UPDATE record SET person_id = NULL, salt = NULL, purged_by = {purge_seq} WHERE seq = 6",
        f"UPDATE record SET {blank}, purged_by = {purge_seq} WHERE seq = {purge_seq + 0}",
    ]
    for statement in attempts:
        sql = text(statement.replace("WHERE", f"WHERE site_id = '{SITE}' AND"))
        with engine.connect() as conn, pytest.raises(DBAPIError):
            conn.execute(sql)
    with engine.connect() as conn:
        row = conn.execute(
            text(f"SELECT outcome, salt FROM record WHERE site_id = '{SITE}' AND seq = 6")
        ).one()
    assert row[0] == "denied" and row[1] is not None


@pytest.mark.postgres
def test_the_postgres_application_role_appends_reads_and_purges_only(
    postgres_url: str, signer: Signer
) -> None:
    """As the application role: records are appended and read; UPDATE, DELETE and TRUNCATE of
    the log are refused by privileges; record_purge() still purges."""
    owner = make_engine(postgres_url)
    upgrade(owner)
    _chief(owner)
    role = f"sekisho_app_{secrets.token_hex(4)}"
    setup_app_role(owner, role)
    setup_app_role(owner, role)  # idempotent: run again after each migration
    app = make_engine(postgres_url.replace("postgres@", f"{role}@"))
    try:
        started = RecordLog(app, SITE, checkpoints=policy(signer, every=50))
        started.start()
        try:
            asyncio.run(append_all(started, [record(i) for i in range(100)]))
            for statement in (
                "UPDATE record SET outcome = 'x' WHERE seq = 1",
                "DELETE FROM record WHERE seq = 1",
                "TRUNCATE record",
                "DELETE FROM audit_checkpoint",
                "UPDATE audit_node SET hash = hash",
            ):
                with app.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
                    conn.execute(text(statement))
            result = purge_blocking(
                app, SITE, POLICY, approver=None, now=NOW,
                append=lambda r: started.submit(r).result(30),
            )  # fmt: skip
            assert result.purged == 100
        finally:
            started.close()
        assert verify_log(app, SITE, keys=[signer.verifier()], origin=ORIGIN).ok
    finally:
        app.dispose()
        owner.dispose()
        # the role is cluster-wide: dropped once its database is gone (postgres_url fixture)
        _drop_role_later.append(role)


_drop_role_later: list[str] = []


@pytest.fixture(autouse=True, scope="module")
def _drop_roles() -> Iterator[None]:
    """Drop the roles the PostgreSQL test made, once their databases are dropped."""
    yield
    if not _drop_role_later:
        return
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        for role in _drop_role_later:
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_role_sql_refuses_odd_names() -> None:
    """Role names are interpolated into SQL: only plain identifiers."""
    with pytest.raises(ValueError, match="role name"):
        app_role_sql("x; DROP TABLE record")
    assert any("record_purge" in s for s in app_role_sql("sekisho_app"))
