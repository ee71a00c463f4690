"""The recertification job (4-8-7(3)): one record per lapse, none for a recertified one.

Real record log on a real SQLite file and a real PostgreSQL database; the job is given a fake
clock (a callable), so lapses come without waiting days.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from gateway.bus import Bus
from gateway.config.site import SiteConfig
from gateway.domain import PersonKind, Reason
from gateway.recertification import (
    RecertificationJob,
    falling_due,
    lapses_at,
    recertify_periods,
)
from gateway.recorder import Recorder
from gateway.records import RecordKind
from gateway.runtime import Gateway
from gateway.storage.models import Authorization, Person, Record
from gateway.storage.record_log import RecordLog

SITE_ID = "hq"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SITE = SiteConfig.model_validate(
    {
        "site": {"id": SITE_ID, "name": "HQ"},
        "zones": [
            {"id": "srv", "name": "Server room", "recertify_days": 90},
            {"id": "vault", "name": "Media vault", "kind": "media_vault", "recertify_days": 30},
            {"id": "lobby", "name": "Lobby", "kind": "other"},  # no recertification
        ],
        "doors": [],
    }
)
LAPSED = RecordKind.AUTHORIZATION_LAPSED


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        """Start at ``now``."""
        self.now = now

    def __call__(self) -> datetime:
        """The current fake time."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward by a timedelta's keywords."""
        self.now += timedelta(**delta)


@dataclass
class Rig:
    """A job on a real record log, its clock and the store."""

    engine: Engine
    clock: FakeClock
    log: RecordLog
    recorder: Recorder
    job: RecertificationJob

    def lapses(self) -> list[Record]:
        """The lapse records in the store, oldest first."""
        with Session(self.engine) as session:
            stmt = select(Record).where(Record.site_id == SITE_ID, Record.kind == LAPSED.value)
            return list(session.exec(stmt.order_by(col(Record.seq))))


def make_job(rig_engine: Engine, recorder: Recorder, clock: FakeClock) -> RecertificationJob:
    """A job for SITE; long interval: the tests call ``check`` themselves."""
    return RecertificationJob(SITE, rig_engine, recorder, clock=clock, interval_s=3600)


@pytest_asyncio.fixture
async def rig(engine: Engine) -> AsyncIterator[Rig]:
    """A started record log, a recorder and a job at T0."""
    log = RecordLog(engine, SITE_ID)
    log.start()
    recorder = Recorder(log, Bus())
    clock = FakeClock(T0)
    try:
        yield Rig(engine, clock, log, recorder, make_job(engine, recorder, clock))
    finally:
        await recorder.close()
        await asyncio.get_running_loop().run_in_executor(None, log.close)


def add_person(engine: Engine, kind: PersonKind = PersonKind.STAFF, site_id: str = SITE_ID) -> str:
    """A person in the store; returns the id."""
    with Session(engine, expire_on_commit=False) as session:
        person = Person(site_id=site_id, kind=kind, name="Somebody")
        session.add(person)
        session.commit()
        return person.id


def grant(engine: Engine, person_id: str, zone: str = "srv", **fields: Any) -> str:
    """An authorization granted at T0 unless ``granted_at`` says otherwise; returns the id."""
    values: dict[str, Any] = {"granted_at": T0, "site_id": SITE_ID, **fields}
    with Session(engine, expire_on_commit=False) as session:
        row = Authorization(person_id=person_id, zone_id=zone, granted_by="mgr", **values)
        session.add(row)
        session.commit()
        return row.id


def update(engine: Engine, authorization_id: str, **fields: Any) -> None:
    """Change an authorization row (as the API's recertify and revoke routes do)."""
    with Session(engine) as session:
        row = session.get(Authorization, authorization_id)
        assert row is not None
        for key, value in fields.items():
            setattr(row, key, value)
        session.add(row)
        session.commit()


async def test_a_lapsed_authorization_is_recorded_exactly_once(rig: Rig) -> None:
    visitor = add_person(rig.engine, PersonKind.CONTRACTOR)
    auth = grant(rig.engine, visitor)
    rig.clock.advance(days=89, hours=23)
    assert await rig.job.check() == []  # not due yet
    rig.clock.advance(hours=1)  # exactly 90 days: the decision denies from this instant
    [seq] = await rig.job.check()
    assert await rig.job.check() == []
    rig.clock.advance(days=10)
    assert await rig.job.check() == []  # still the same lapse
    [rec] = rig.lapses()
    assert rec.seq == seq
    assert rec.ts == T0 + timedelta(days=90)  # the job's clock, not the wall clock
    assert (rec.zone_id, rec.person_id, rec.person_kind) == ("srv", visitor, "contractor")
    assert rec.reason == Reason.AUTHORIZATION_NOT_RECERTIFIED.value
    assert rec.actor is None
    assert rec.detail == {
        "authorization_id": auth,
        "lapsed_at": (T0 + timedelta(days=90)).isoformat(),
        "certified_at": T0.isoformat(),
        "certified_by": "mgr",
        "recertify_days": 90,
    }


async def test_a_recertified_authorization_produces_none_until_it_lapses_again(rig: Rig) -> None:
    auth = grant(rig.engine, add_person(rig.engine))
    rig.clock.advance(days=60)
    update(rig.engine, auth, recertified_at=rig.clock.now, recertified_by="mgr2")
    rig.clock.advance(days=60)  # 120 days after the grant, 60 after the recertification
    assert await rig.job.check() == []
    assert rig.lapses() == []
    rig.clock.advance(days=30)  # 90 days after the recertification: a new lapse
    [seq] = await rig.job.check()
    [rec] = rig.lapses()
    assert rec.seq == seq
    assert rec.detail["certified_by"] == "mgr2"
    assert rec.detail["lapsed_at"] == (T0 + timedelta(days=150)).isoformat()


async def test_each_lapse_of_the_same_authorization_is_its_own_record(rig: Rig) -> None:
    auth = grant(rig.engine, add_person(rig.engine), zone="vault")  # 30 days
    rig.clock.advance(days=31)
    assert len(await rig.job.check()) == 1
    update(rig.engine, auth, recertified_at=rig.clock.now, recertified_by="mgr")  # after lapsing
    assert await rig.job.check() == []
    rig.clock.advance(days=30)
    assert len(await rig.job.check()) == 1
    assert [r.detail["authorization_id"] for r in rig.lapses()] == [auth, auth]
    assert len({r.detail["lapsed_at"] for r in rig.lapses()}) == 2


async def test_revoked_ended_unrecertified_zones_and_other_sites_lapse_nothing(rig: Rig) -> None:
    person = add_person(rig.engine)
    revoked = grant(rig.engine, person)
    update(rig.engine, revoked, revoked_at=T0 + timedelta(days=1), revoked_by="mgr")
    grant(rig.engine, person, valid_to=T0 + timedelta(days=90))  # ends as it would lapse
    grant(rig.engine, person, zone="lobby")  # the zone has no recertify_days
    elsewhere = add_person(rig.engine, site_id="branch")
    grant(rig.engine, elsewhere, site_id="branch")
    rig.clock.advance(days=400)
    assert await rig.job.check() == []
    assert rig.lapses() == []


async def test_a_restarted_job_does_not_record_a_lapse_twice(rig: Rig) -> None:
    person = add_person(rig.engine)
    grant(rig.engine, person)
    rig.clock.advance(days=91)
    assert len(await rig.job.check()) == 1
    grant(rig.engine, person, zone="vault")  # granted at T0: lapsed at T0 + 30 days
    again = make_job(rig.engine, rig.recorder, rig.clock)  # reads what the log holds
    [seq] = await again.check()
    assert await again.check() == []
    assert [r.zone_id for r in rig.lapses()] == ["srv", "vault"]
    assert rig.lapses()[-1].seq == seq


async def test_concurrent_checks_write_one_record(rig: Rig) -> None:
    grant(rig.engine, add_person(rig.engine))
    rig.clock.advance(days=100)
    results = await asyncio.gather(rig.job.check(), rig.job.check(), rig.job.check())
    assert sorted(len(r) for r in results) == [0, 0, 1]
    assert len(rig.lapses()) == 1


def test_falling_due_lists_earliest_first_up_to_the_bound(engine: Engine) -> None:
    person = add_person(engine)
    a = grant(engine, person, granted_at=T0)  # srv: lapses T0 + 90
    b = grant(engine, person, zone="vault", granted_at=T0 + timedelta(days=40))  # T0 + 70
    c = grant(engine, person, granted_at=T0 - timedelta(days=30), recertified_at=T0)  # T0 + 90
    grant(engine, person, granted_at=T0 + timedelta(days=5))  # T0 + 95: beyond the bound
    periods = recertify_periods(SITE)
    assert periods == {"srv": 90, "vault": 30}
    with engine.connect() as conn:
        due = falling_due(conn, SITE_ID, periods, T0 + timedelta(days=90))
        assert falling_due(conn, SITE_ID, {}, T0 + timedelta(days=900)) == []
        far = T0 + timedelta(days=3650)
        only_vault = falling_due(conn, SITE_ID, recertify_periods(SITE, ["vault"]), far)
    assert [d.authorization_id for d in due] == [b, *sorted([a, c])]
    assert [d.due_at for d in due] == [T0 + timedelta(days=d) for d in (70, 90, 90)]
    assert [d.lapsed(T0 + timedelta(days=80)) for d in due] == [True, False, False]
    assert [d.authorization_id for d in only_vault] == [b]
    assert lapses_at(T0, 1) == T0 + timedelta(days=1)


async def test_the_running_gateway_records_lapses_with_its_clock(engine: Engine) -> None:
    person = add_person(engine, PersonKind.VISITOR)
    grant(engine, person, zone="vault")
    clock = FakeClock(T0 + timedelta(days=45))
    gateway = Gateway(SITE, engine, clock=clock)
    await gateway.start()
    try:
        deadline = time.monotonic() + 20
        while not _lapse_records(engine):
            assert time.monotonic() < deadline, "no lapse record from the running gateway"
            await asyncio.sleep(0.02)
    finally:
        await gateway.stop()
    [rec] = _lapse_records(engine)
    assert rec.ts == clock.now
    assert (rec.zone_id, rec.person_id, rec.person_kind) == ("vault", person, "visitor")
    # a restarted gateway reads the lapse back from the log and does not write it again
    gateway = Gateway(SITE, engine, clock=clock)
    await gateway.start()
    try:
        await gateway.recertification.check()
    finally:
        await gateway.stop()
    assert len(_lapse_records(engine)) == 1


def _lapse_records(engine: Engine) -> list[Record]:
    """Lapse records in the store."""
    with Session(engine) as session:
        stmt = select(Record).where(Record.site_id == SITE_ID, Record.kind == LAPSED.value)
        return list(session.exec(stmt))
