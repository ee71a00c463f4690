"""The operator-record outbox: a change and its record never part (4-8-6(4), never a lost record).

Real Gateway and record log with signed checkpoints on a SQLite file and on PostgreSQL. A crash
is simulated by what it leaves: a committed change with its pending row, and either no record
(crash before the append) or the record already in the log (crash before the row's delete).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from gateway.audit.note import Signer
from gateway.audit.verify import verify_log
from gateway.config.site import SiteConfig
from gateway.domain import PersonKind
from gateway.intents import INTENT, stage, take_staged
from gateway.records import NewRecord, RecordKind
from gateway.runtime import Gateway
from gateway.storage.models import RECORD_TABLE, PendingRecord, Person
from gateway.storage.record_log import RecordLog
from tests.failing_disk import FailingDisk as Outage
from tests.gateway.audit.audit_support import ORIGIN, policy

SITE_ID = "hq"
SITE = SiteConfig.model_validate(
    {
        "site": {"id": SITE_ID, "name": "HQ"},
        "zones": [{"id": "srv", "name": "Server room"}],
        "doors": [],
    }
)
T0 = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
WAIT = 30.0


@dataclass
class Site:
    """A signed record log on the store, and the key that signs it."""

    engine: Engine
    log: RecordLog
    signer: Signer

    def gateway(self) -> Gateway:
        """A gateway writing through the log (as ``sekisho run`` builds it)."""
        return Gateway(SITE, self.engine, record_log=self.log)

    def operator_records(self) -> list[dict[str, object]]:
        """(seq, ts, detail) of the site's operator records, in seq order."""
        stmt = (
            select(RECORD_TABLE.c.seq, RECORD_TABLE.c.ts, RECORD_TABLE.c.detail)
            .where(
                RECORD_TABLE.c.site_id == SITE_ID,
                RECORD_TABLE.c.kind == RecordKind.OPERATOR.value,
            )
            .order_by(RECORD_TABLE.c.seq)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def pending(self) -> int:
        """How many pending rows the site has."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(PendingRecord)
                    .where(PendingRecord.site_id == SITE_ID)  # type: ignore[arg-type]
                ).scalar_one()
            )

    def verified(self) -> None:
        """The whole log verifies against the site's key."""
        report = verify_log(self.engine, SITE_ID, keys=[self.signer.verifier()], origin=ORIGIN)
        assert report.ok, report.problems


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    """A started signed log (a checkpoint every record) on a migrated store."""
    signer = Signer.generate(ORIGIN)
    log = RecordLog(engine, SITE_ID, checkpoints=policy(signer, every=1))
    log.start()
    yield Site(engine, log, signer)
    log.close(timeout=WAIT)


def change_person(engine: Engine, name: str, ts: datetime = T0) -> tuple[int, NewRecord]:
    """Add a person and stage its record in the same transaction, then 'crash' after commit."""
    with Session(engine, expire_on_commit=False) as session:
        person = Person(site_id=SITE_ID, kind=PersonKind.STAFF, name=name)
        session.add(person)
        rec = NewRecord(
            RecordKind.OPERATOR,
            ts,
            actor="admin",
            person_id=person.id,
            person_kind="staff",
            detail={"action": "person.create", "target": person.id, "changes": {"name": name}},
        )
        stage(session, SITE_ID, rec)
        session.commit()
        [(intent, staged)] = take_staged(session)
    return intent, staged


async def test_a_committed_change_without_its_record_is_recorded_at_start(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """Crash between commit and append: the next start writes the record once, with its ts,
    before the start record; the row is gone and the log verifies."""
    first, _ = change_person(site.engine, "Sato Hanako")
    second, _ = change_person(site.engine, "Suzuki Ichiro", ts=T0.replace(second=16))
    gateway = site.gateway()
    with caplog.at_level(logging.INFO, logger="gateway.intents"):
        await gateway.start()
    await gateway.stop()
    records = site.operator_records()
    assert [r["detail"][INTENT] for r in records] == [first, second]  # type: ignore[index]
    assert [r["ts"] for r in records] == [T0, T0.replace(second=16)]
    assert records[0]["detail"]["changes"] == {"name": "Sato Hanako"}  # type: ignore[index]
    with site.engine.connect() as conn:
        start_seq = conn.execute(
            select(func.min(RECORD_TABLE.c.seq)).where(RECORD_TABLE.c.kind == "system")
        ).scalar_one()
    assert records[-1]["seq"] < start_seq
    assert site.pending() == 0
    assert "2 record(s) recovered, 0 already in the log" in caplog.text
    site.verified()


async def test_a_record_already_in_the_log_is_not_written_twice(site: Site) -> None:
    """Crash between append and the row's delete: the start only deletes the row."""
    intent, rec = change_person(site.engine, "Sato Hanako")
    seq = await site.log.append(rec)
    gateway = site.gateway()
    await gateway.start()
    await gateway.stop()
    records = site.operator_records()
    assert [(r["seq"], r["detail"][INTENT]) for r in records] == [(seq, intent)]  # type: ignore[index]
    assert site.pending() == 0
    site.verified()


async def test_a_second_start_finds_nothing_left(site: Site) -> None:
    """Recovery is idempotent: a restart after a recovery writes nothing more."""
    change_person(site.engine, "Sato Hanako")
    for _ in range(2):
        gateway = site.gateway()
        await gateway.start()
        await gateway.stop()
    assert len(site.operator_records()) == 1
    assert site.pending() == 0


async def test_a_rolled_back_change_stages_nothing(site: Site) -> None:
    """The pending row goes with the change it was staged with."""
    with Session(site.engine) as session:
        person = Person(site_id=SITE_ID, kind=PersonKind.STAFF, name="Nobody")
        session.add(person)
        stage(session, SITE_ID, NewRecord(RecordKind.OPERATOR, T0, actor="admin"))
        session.flush()
        session.rollback()
        assert take_staged(session) == []
    assert site.pending() == 0


def test_a_record_the_log_would_refuse_refuses_the_change(site: Site) -> None:
    """Checked when staged: nothing is committed that could never be recorded."""
    with Session(site.engine) as session, pytest.raises(ValueError, match="actor"):
        stage(session, SITE_ID, NewRecord(RecordKind.OPERATOR, T0, actor="x" * 65))


async def test_a_malformed_row_is_left_in_place_and_the_rest_recovered(site: Site) -> None:
    """A row that cannot be read back never stops the gateway: it stays, loudly."""
    with Session(site.engine) as session:
        session.add(PendingRecord(site_id=SITE_ID, record={"kind": "no.such.kind"}))
        session.commit()
    intent, _ = change_person(site.engine, "Sato Hanako")
    gateway = site.gateway()
    await gateway.start()
    await gateway.stop()
    assert [r["detail"][INTENT] for r in site.operator_records()] == [intent]  # type: ignore[index]
    assert site.pending() == 1


@pytest_asyncio.fixture
async def outage(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Outage, Gateway]]:
    """A started gateway over a log that can be switched off; retries every 50 ms."""
    monkeypatch.setattr("gateway.recorder.RETRY_S", 0.05)
    switch = Outage(site.log)
    gateway = Gateway(SITE, site.engine, record_log=switch)
    await gateway.start()
    yield switch, gateway
    await gateway.stop()


async def test_a_record_the_log_cannot_take_is_held_and_its_row_goes_once_written(
    site: Site, outage: tuple[Outage, Gateway]
) -> None:
    """Storage outage after the commit: the record is held (not lost), written by the retry
    exactly once, and its row is deleted then."""
    switch, gateway = outage
    intent, rec = change_person(site.engine, "Sato Hanako")
    switch.down = True
    assert await gateway.record_intent(rec) is None
    assert gateway.recorder.backlog == 1
    assert site.pending() == 1
    switch.down = False
    for _ in range(int(WAIT / 0.02)):  # the retry runs every 50 ms
        if site.pending() == 0:
            break
        await asyncio.sleep(0.02)
    assert site.pending() == 0
    assert [r["detail"][INTENT] for r in site.operator_records()] == [intent]  # type: ignore[index]


async def test_a_held_record_left_by_a_crash_is_written_at_start_once(
    site: Site, outage: tuple[Outage, Gateway]
) -> None:
    """Storage outage, then a crash before the retry: the next start writes it, once."""
    switch, gateway = outage
    intent, rec = change_person(site.engine, "Sato Hanako")
    switch.down = True
    assert await gateway.record_intent(rec) is None
    gateway.recorder._retry.clear()  # the crash: what was held in memory is gone
    switch.down = False
    restarted = site.gateway()
    await restarted.start()
    await restarted.stop()
    assert [r["detail"][INTENT] for r in site.operator_records()] == [intent]  # type: ignore[index]
    assert site.pending() == 0
    site.verified()
