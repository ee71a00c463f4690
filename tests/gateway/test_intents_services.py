"""The core services' changes and their records commit together (4-8-6(4), never a lost record).

A visit's check-in, a media inspection confirmed at the door, an incident's closing and an
operator's acknowledgement of an alarm, each on a real gateway, record log and store (SQLite
file and PostgreSQL). The crash is simulated where it hurts: the process dies after the step's
commit, before its records are appended. What it leaves — the change and its pending rows, no
record — is checked; the next start writes each record exactly once and the log verifies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from gateway.audit.verify import verify_log
from gateway.domain import CardId, Direction
from gateway.intents import INTENT, Staged
from gateway.media.door import Inspection, RequestPlan
from gateway.media.model import Classification, MediaKind
from gateway.media.registry import NewItem
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import AlarmRow, IncidentRow, MediaItemRow, PendingRecord, VisitRow
from gateway.visits.model import CheckIn, IdDocument, NewVisitor, VisitPlan, VisitStatus
from tests.gateway.media.custody_rig import Rig, actor, start_rig, stop_rig

DESK = actor("desk", "operator")
OP1 = actor("op1", "operator")
OP2 = actor("op2", "operator")


class Crash(BaseException):
    """The process dies here: after the step's commit, before its records are appended."""


def pending(engine: Engine) -> int:
    """How many pending rows the site has."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PendingRecord)).scalar_one())


async def crash_after_commit(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, step: Callable[[], Awaitable[object]]
) -> None:
    """Run ``step`` with the outbox's append replaced by the process dying."""

    async def die(staged: Staged) -> list[int | None]:
        """Nothing staged reaches the log."""
        assert staged, "the step staged no record"
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(rig.gateway.intents, "write_all", die)
        with pytest.raises(Crash):
            await step()


async def restart(engine: Engine) -> Rig:
    """The next start: the gateway recovers what the crash left pending."""
    return await start_rig(engine, alarms=True)


def verified(engine: Engine) -> None:
    """The whole log verifies (hash chain and tree; no checkpoint keys in these rigs)."""
    report = verify_log(engine, "hq")
    assert report.ok, report.problems


async def test_a_visit_check_in_is_recorded_once_after_a_crash(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await start_rig(engine, alarms=True)
    try:
        host = rig.add_person("Hana Host", zones=("srv",))
        escort = rig.add_person("Eiji Escort", zones=("srv",))
        mina = rig.add_person("Mina Manager")
        now = rig.clock()
        v = await rig.custody.visits.register(
            DESK,
            VisitPlan(
                host_id=host,
                purpose="replace the tape library's robot arm",
                zones=("srv",),
                valid_from=now,
                valid_to=now + timedelta(hours=4),
                visitor=NewVisitor("Ito Mai", "Example Systems Integrator"),
            ),
        )
        await rig.custody.visits.approve(actor("mina", "manager", mina, "srv"), v.id)
        desk_in = CheckIn(
            id_document_type=IdDocument.DRIVERS_LICENCE,
            id_document_last="0421",
            card=CardId.parse("H10301:50:17"),
            escort_id=escort,
        )
        await crash_after_commit(
            rig, monkeypatch, lambda: rig.custody.visits.check_in(DESK, v.id, desk_in)
        )
        with Session(engine) as s:
            row = s.get(VisitRow, v.id)
            assert row is not None and row.status == VisitStatus.CHECKED_IN.value  # committed
        assert pending(engine) == 1
        assert rig.stored(RecordKind.VISIT_CHECKED_IN) == []  # ... without its record
    finally:
        await stop_rig(rig)
    for _ in range(2):  # recovered at the first start; the second finds nothing left
        again = await restart(engine)
        await stop_rig(again)
    [rec] = again.stored(RecordKind.VISIT_CHECKED_IN)
    assert (rec.actor, rec.person_id, rec.credential) == ("desk", v.visitor_id, "H10301:…17")
    assert isinstance(rec.detail[INTENT], int)
    assert {k: rec.detail[k] for k in ("visit_id", "escort_id", "zones", "pin")} == {
        "visit_id": v.id,
        "escort_id": escort,
        "zones": ["srv"],
        "pin": None,
    }
    assert pending(engine) == 0
    verified(engine)


async def test_a_media_movement_at_the_door_is_recorded_once_after_a_crash(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await start_rig(engine, alarms=True)
    try:
        sato = rig.add_person("Sato Hanako")
        item = await rig.custody.media.registry.register(
            OP1,
            NewItem(
                MediaKind.TAPE,
                "T-0001",
                Classification.CONFIDENTIAL,
                encrypted=True,
                home_zone="vault",
                home_location="shelf B-3",
            ),
        )
        desk = rig.custody.media.desk
        req = await desk.request(
            OP1,
            RequestPlan(
                item_id=item.id,
                direction=Direction.OUT,
                person_id=sato,
                purpose="off-site backup rotation",
                return_by=rig.clock() + timedelta(days=2),
                destination="Tokyo off-site store",
            ),
        )
        await desk.approve(actor("vic", "manager", None, "vault"), req.id)
        first = await desk.inspect(
            OP1,
            Inspection("T-0001", Direction.OUT, "vault", sato, passed=True, door_id="d-vault"),
        )
        await crash_after_commit(rig, monkeypatch, lambda: desk.confirm(OP2, first.id, passed=True))
        with Session(engine) as s:
            row = s.get(MediaItemRow, item.id)
            assert row is not None and (row.state, row.holder_id) == ("out", sato)  # committed
        assert pending(engine) == 2  # media.confirmed and media.moved
        assert rig.stored(RecordKind.MEDIA_CONFIRMED) == []
        assert rig.stored(RecordKind.MEDIA_MOVED) == []
    finally:
        await stop_rig(rig)
    again = await restart(engine)
    await stop_rig(again)
    [confirmed] = again.stored(RecordKind.MEDIA_CONFIRMED)
    [moved] = again.stored(RecordKind.MEDIA_MOVED)
    assert confirmed.seq < moved.seq  # in the order they were staged
    assert (confirmed.actor, confirmed.detail["outcome"]) == ("op2", "completed")
    assert (moved.detail["movement"], moved.detail["state_to"]) == ("carried_out", "out")
    intents = [confirmed.detail[INTENT], moved.detail[INTENT]]
    assert all(isinstance(i, int) for i in intents) and intents[0] != intents[1]
    assert pending(engine) == 0
    verified(engine)


async def test_an_incident_closing_is_recorded_once_after_a_crash(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await start_rig(engine, alarms=True)
    try:
        assert rig.alarms is not None
        incidents = rig.alarms.incidents
        opened = await incidents.open("Stranger in the server room", "op1", zone_id="srv")
        await crash_after_commit(
            rig,
            monkeypatch,
            lambda: incidents.close(
                opened.incident_id, "boss", "door propped open", "door alarm on hold-open"
            ),
        )
        with Session(engine) as s:
            row = s.get(IncidentRow, opened.incident_id)
            assert row is not None and row.closed_by == "boss"  # committed
        assert pending(engine) == 1
        assert rig.stored(RecordKind.INCIDENT_CLOSED) == []
    finally:
        await stop_rig(rig)
    again = await restart(engine)
    await stop_rig(again)
    [closed] = again.stored(RecordKind.INCIDENT_CLOSED)
    assert (closed.actor, closed.zone_id) == ("boss", "srv")
    assert closed.detail["incident"] == opened.incident_id
    assert isinstance(closed.detail[INTENT], int)
    assert pending(engine) == 0
    verified(engine)


async def test_an_alarm_acknowledgement_is_recorded_once_after_a_crash(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await start_rig(engine, alarms=True)
    try:
        assert rig.alarms is not None
        alarms = rig.alarms.alarms
        await rig.gateway.record(
            NewRecord(RecordKind.DOOR_FORCED, rig.clock(), door_id="d-srv", zone_id="srv")
        )
        await rig.wait(lambda: bool(alarms.active()), "the alarm")
        alarm_id = alarms.active()[0].alarm_id
        await crash_after_commit(
            rig, monkeypatch, lambda: alarms.acknowledge(alarm_id, "op1", "on my way")
        )
        with Session(engine) as s:
            row = s.get(AlarmRow, alarm_id)
            assert row is not None and row.acknowledged_by == "op1"  # committed
        assert pending(engine) == 1
        assert rig.stored(RecordKind.ALARM_ACKNOWLEDGED) == []
    finally:
        await stop_rig(rig)
    again = await restart(engine)
    await stop_rig(again)
    [acked] = again.stored(RecordKind.ALARM_ACKNOWLEDGED)
    assert (acked.actor, acked.detail["alarm_id"], acked.detail["note"]) == (
        "op1",
        alarm_id,
        "on my way",
    )
    assert pending(engine) == 0
    verified(engine)
