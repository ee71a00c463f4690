"""Visits (4-8-7(1)) on a real gateway, record log and store (SQLite and PostgreSQL).

Pre-registered by a host, approved per zone by that zone's manager (never the host or the
registrar, 4-8-6(6)), checked in with the document's kind and last digits only, a visitor badge
valid only for the visit's zones and window, an escort; checked out with the badge disabled;
an overstay recorded once and cleared by the check-out; the visitor log from the records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from gateway.custody import Invalid, NotAllowed, Refused
from gateway.decision import AccessPoint, Companion, Decision, ZoneRules, decide
from gateway.domain import AuthMode, CardId, CredentialStatus, Direction, PersonKind, Reason
from gateway.records import NewRecord, RecordKind
from gateway.schedule import SiteCalendar
from gateway.storage.models import Authorization, Credential, VisitRow
from gateway.visits.model import CheckIn, IdDocument, NewVisitor, VisitPlan, VisitStatus
from tests.gateway.media.custody_rig import Rig, actor, sqlite_engine, start_rig, stop_rig

BADGE = "H10301:50:17"
DESK = actor("desk", "operator")
CAL = SiteCalendar.of("Asia/Tokyo", [])


@pytest.fixture
async def rig(engine: Engine) -> AsyncIterator[Rig]:
    """A running gateway with the custody services (and the alarm console)."""
    r = await start_rig(engine, alarms=True)
    try:
        yield r
    finally:
        await stop_rig(r)


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[Rig]:
    """The same on a SQLite file only, for rules whose storage both backends share."""
    engine = sqlite_engine(tmp_path)
    r = await start_rig(engine, alarms=True)
    try:
        yield r
    finally:
        await stop_rig(r)
        engine.dispose()


def people(rig: Rig) -> dict[str, str]:
    """A host, an escort (authorized for both zones), and the two zones' managers."""
    return {
        "host": rig.add_person("Hana Host", zones=("srv",)),
        "escort": rig.add_person("Eiji Escort", zones=("srv", "vault")),
        "mina": rig.add_person("Mina Manager"),
        "vic": rig.add_person("Vic Vault"),
    }


def plan(p: dict[str, str], rig: Rig, zones: tuple[str, ...] = ("srv", "vault")) -> VisitPlan:
    """A four-hour visit starting now."""
    now = rig.clock()
    return VisitPlan(
        host_id=p["host"],
        purpose="replace the tape library's robot arm",
        zones=zones,
        valid_from=now,
        valid_to=now + timedelta(hours=4),
        visitor=NewVisitor("Ito Mai", "Example Systems Integrator"),
    )


def check_in(p: dict[str, str], card: str = BADGE, **kw: object) -> CheckIn:
    """What the desk records."""
    values: dict[str, object] = {
        "id_document_type": IdDocument.DRIVERS_LICENCE,
        "id_document_last": "0421",
        "card": CardId.parse(card),
        "escort_id": p["escort"],
        **kw,
    }
    return CheckIn(**values)  # type: ignore[arg-type]


async def approved(rig: Rig, p: dict[str, str], zones: tuple[str, ...] = ("srv", "vault")) -> str:
    """A visit registered by the desk and approved by the managers of its zones."""
    v = await rig.custody.visits.register(DESK, plan(p, rig, zones))
    if "srv" in zones:
        await rig.custody.visits.approve(actor("mina", "manager", p["mina"], "srv"), v.id)
    if "vault" in zones:
        await rig.custody.visits.approve(actor("vic", "manager", p["vic"], "vault"), v.id)
    return v.id


def badge(rig: Rig, zone: str, direction: Direction = Direction.IN) -> Decision:
    """What the decision says about the visitor badge at a door of ``zone`` now."""
    entry = rig.gateway.index.lookup(CardId.parse(BADGE).key)
    point = AccessPoint(f"d-{zone}", ZoneRules(zone), direction, AuthMode.CARD)
    result = decide(point, entry, now=rig.clock(), calendar=CAL)
    assert isinstance(result, Decision)
    return result


async def test_a_visit_from_registration_to_check_out(rig: Rig) -> None:
    p = people(rig)
    v = await rig.custody.visits.register(DESK, plan(p, rig))
    assert (v.status, v.pending_zones, v.visitor_kind) == (
        VisitStatus.REQUESTED,
        ("srv", "vault"),
        PersonKind.VISITOR.value,
    )
    mina = actor("mina", "manager", p["mina"], "srv")
    v = await rig.custody.visits.approve(mina, v.id, "ok for the server room")
    assert (v.status, v.pending_zones) == (VisitStatus.REQUESTED, ("vault",))
    v = await rig.custody.visits.approve(actor("vic", "manager", p["vic"], "vault"), v.id)
    assert v.status is VisitStatus.APPROVED
    assert [(a.zone_id, a.by) for a in v.approvals] == [("srv", "mina"), ("vault", "vic")]

    v = await rig.custody.visits.check_in(DESK, v.id, check_in(p, photo_evidence_seq=7))
    assert v.status is VisitStatus.CHECKED_IN
    assert (v.id_document_type, v.id_document_last, v.card_masked) == (
        "drivers_licence",
        "0421",
        "H10301:…17",
    )
    assert (v.escort_id, v.escort_name, v.photo_evidence_seq) == (p["escort"], "Eiji Escort", 7)
    # The badge is a visitor's, valid only for the visit's window and zones.
    entry = rig.gateway.index.lookup(CardId.parse(BADGE).key)
    assert entry is not None and entry.person_kind is PersonKind.VISITOR
    assert (entry.valid_from, entry.valid_to) == (v.valid_from, v.valid_to)
    assert sorted(a.zone_id for a in entry.authorizations) == ["srv", "vault"]
    assert {a.purpose for a in entry.authorizations} == {"replace the tape library's robot arm"}
    granted = badge(rig, "srv")
    assert granted.granted and granted.companion is Companion.ESCORT  # escorted (4-8-7(1))
    assert badge(rig, "lobby").reason is Reason.UNAUTHORIZED  # no other zone

    rig.clock.advance(hours=1)
    v = await rig.custody.visits.check_out(DESK, v.id, credential_returned=True)
    assert (v.status, v.credential_returned, v.checked_out_by) == (
        VisitStatus.CHECKED_OUT,
        True,
        "desk",
    )
    assert badge(rig, "srv").reason is Reason.CREDENTIAL_NOT_ENABLED  # returned: disabled
    with Session(rig.engine) as s:
        cred = s.exec(select(Credential).where(Credential.card_key == BADGE)).one()
        assert cred.status is CredentialStatus.RETURNED
        auths = s.exec(select(Authorization).where(Authorization.person_id == v.visitor_id)).all()
        assert len(auths) == 2 and all(a.revoked_by == "desk" for a in auths)
    await rig.wait(lambda: len(rig.records(RecordKind.VISIT_CHECKED_OUT)) == 1, "records")
    kinds = [r.kind for _, r in rig.written if r.kind.value.startswith("visit.")]
    assert kinds == [
        RecordKind.VISIT_REGISTERED,
        RecordKind.VISIT_APPROVED,
        RecordKind.VISIT_APPROVED,
        RecordKind.VISIT_CHECKED_IN,
        RecordKind.VISIT_CHECKED_OUT,
    ]
    checked_in = rig.records(RecordKind.VISIT_CHECKED_IN)[0]
    assert checked_in.actor == "desk" and checked_in.person_kind == "visitor"
    assert checked_in.credential == "H10301:…17"
    assert "0421" not in str(checked_in.detail)  # the last digits stay in the visit, not the log


async def test_the_badge_expires_with_the_window_by_itself(lite: Rig) -> None:
    rig = lite
    p = people(rig)
    vid = await approved(rig, p)
    await rig.custody.visits.check_in(DESK, vid, check_in(p))
    assert badge(rig, "srv").granted
    rig.clock.advance(hours=4)
    assert badge(rig, "srv").reason is Reason.CREDENTIAL_EXPIRED
    assert badge(rig, "srv", Direction.OUT).reason is Reason.CREDENTIAL_EXPIRED


async def test_only_the_zones_managers_approve_and_never_their_own(lite: Rig) -> None:
    rig = lite
    p = people(rig)
    v = await rig.custody.visits.register(DESK, plan(p, rig))
    with pytest.raises(NotAllowed, match="manager of one of the visit's zones"):
        await rig.custody.visits.approve(actor("other", "manager", None, "lobby"), v.id)
    with pytest.raises(NotAllowed):  # an operator is not a manager, whatever zones it names
        await rig.custody.visits.approve(actor("op2", "operator", None, "srv"), v.id)
    with pytest.raises(NotAllowed, match="host"):
        await rig.custody.visits.approve(actor("hana", "manager", p["host"], "srv"), v.id)
    mine = await rig.custody.visits.register(
        actor("mina", "manager", p["mina"], "srv"), plan(p, rig)
    )
    with pytest.raises(NotAllowed, match="registered"):
        await rig.custody.visits.approve(actor("mina", "manager", p["mina"], "srv"), mine.id)
    await rig.custody.visits.approve(actor("mina", "manager", p["mina"], "srv"), v.id)
    with pytest.raises(Refused, match="approved already"):
        await rig.custody.visits.approve(actor("mina", "manager", p["mina"], "srv"), v.id)
    with pytest.raises(Refused, match="only an approved visit"):
        await rig.custody.visits.check_in(DESK, v.id, check_in(p))  # vault still pending
    rejected = await rig.custody.visits.reject(actor("vic", "manager", p["vic"], "vault"), v.id)
    assert rejected.status is VisitStatus.REJECTED and rejected.decided_by == "vic"
    assert len(rig.records(RecordKind.VISIT_REJECTED)) == 1


async def test_check_in_refuses_what_it_must(lite: Rig) -> None:
    rig = lite
    p = people(rig)
    vid = await approved(rig, p)
    v = rig.custody.visits
    with pytest.raises(Invalid, match="visitor pools"):
        await v.check_in(DESK, vid, check_in(p, card="H10301:12:1001"))
    with pytest.raises(Invalid, match="last 1-4"):
        await v.check_in(DESK, vid, check_in(p, id_document_last="123456789"))
    host_only = rig.add_person("Host Only", zones=("srv",))
    with pytest.raises(Invalid, match="no authorization for zone vault"):
        await v.check_in(DESK, vid, check_in(p, escort_id=host_only))
    guest = rig.add_person("Guest", PersonKind.VISITOR, zones=("srv", "vault"))
    with pytest.raises(Invalid, match="member of staff"):
        await v.check_in(DESK, vid, check_in(p, escort_id=guest))
    with Session(rig.engine) as s:  # a staff card in the pool's range, in use
        s.add(
            Credential(
                site_id="hq",
                person_id=p["host"],
                format=CardId.parse("H10301:50:18").format,
                facility=50,
                number=18,
                card_key="H10301:50:18",
            )
        )
        s.commit()
    with pytest.raises(Refused, match="held by someone"):
        await v.check_in(DESK, vid, check_in(p, card="H10301:50:18"))
    rig.clock.advance(hours=5)
    with pytest.raises(Refused, match="window is over"):
        await v.check_in(DESK, vid, check_in(p))
    assert rig.records(RecordKind.VISIT_CHECKED_IN) == []  # nothing half-done was recorded


async def test_a_returned_badge_goes_to_the_next_visitor(lite: Rig) -> None:
    rig = lite
    p = people(rig)
    first = await approved(rig, p, ("srv",))
    v1 = await rig.custody.visits.check_in(DESK, first, check_in(p))
    await rig.custody.visits.check_out(DESK, first, credential_returned=True)
    second = await approved(rig, p, ("srv",))
    v2 = await rig.custody.visits.check_in(DESK, second, check_in(p))
    entry = rig.gateway.index.lookup(CardId.parse(BADGE).key)
    assert entry is not None and entry.person_id == v2.visitor_id != v1.visitor_id
    assert rig.gateway.index.entries_of(v1.visitor_id) == []
    # A badge not handed back is never issued again.
    await rig.custody.visits.check_out(DESK, second, credential_returned=False)
    third = await approved(rig, p, ("srv",))
    with pytest.raises(Refused, match="lost"):
        await rig.custody.visits.check_in(DESK, third, check_in(p))


async def test_an_overstay_is_recorded_once_raises_an_alarm_and_check_out_clears_it(
    rig: Rig,
) -> None:
    p = people(rig)
    vid = await approved(rig, p, ("srv",))
    v = await rig.custody.visits.check_in(DESK, vid, check_in(p))
    rig.pass_door("srv", p["escort"], "in")
    rig.pass_door("srv", v.visitor_id, "in", escort=p["escort"])
    rig.clock.advance(hours=4)
    assert (await rig.custody.run_checks()).overstays == []  # within the grace (60 s)
    rig.clock.advance(seconds=61)
    assert (await rig.custody.run_checks()).overstays == [vid]
    assert (await rig.custody.run_checks()).overstays == []  # once
    over = rig.records(RecordKind.VISIT_OVERSTAY)
    assert len(over) == 1
    assert over[0].person_id == v.visitor_id and over[0].zone_id == "srv"
    assert over[0].detail["inside"] == ["srv"] and over[0].detail["escort_id"] == p["escort"]
    assert rig.alarms is not None
    await rig.wait(
        lambda: any(a.type == "visit.overstay" for a in rig.alarms.alarms.active()), "alarm"
    )
    alarm = next(a for a in rig.alarms.alarms.active() if a.type == "visit.overstay")
    assert alarm.source == f"person:{v.visitor_id}" and alarm.condition_active
    done = await rig.custody.visits.check_out(DESK, vid, credential_returned=True)
    assert done.overstay_at is not None
    out = rig.records(RecordKind.VISIT_CHECKED_OUT)[0]
    assert out.detail["overstayed"] is True and out.detail["recorded_inside"] == ["srv"]
    alarms = rig.alarms.alarms
    await rig.wait(lambda: not alarms.get(alarm.alarm_id).condition_active, "alarm cleared")


async def test_the_visitor_log_reads_entries_exits_and_escorts_from_the_records(
    rig: Rig,
) -> None:
    p = people(rig)
    vid = await approved(rig, p)
    v = await rig.custody.visits.check_in(DESK, vid, check_in(p))
    visitor = v.visitor_id
    t0 = rig.clock()

    async def door(
        zone: str,
        direction: str,
        escort: str | None = None,
        kind: RecordKind = RecordKind.ACCESS_TAKEN,
    ) -> None:
        """A door record of the visitor, ten minutes after the last."""
        rig.clock.advance(minutes=10)
        detail: dict[str, object] = {"decision_seq": 1}
        if escort:
            detail["escorted_by"] = escort
        await rig.gateway.record(
            NewRecord(
                kind,
                rig.clock(),
                door_id=f"d-{zone}",
                zone_id=zone,
                person_id=visitor,
                person_kind="visitor",
                direction=direction if kind is RecordKind.ACCESS_TAKEN else None,
                detail=detail,
            )
        )

    await door("srv", "in", p["escort"])
    await door("srv", "out")
    await door("vault", "in", p["escort"])
    await door("vault", "out", kind=RecordKind.ZONE_EXIT_ATTRIBUTED)
    await door("srv", "in", p["escort"])  # still inside when the log is read
    log = await rig.custody.visits.visitor_log(t0 - timedelta(hours=1), t0 + timedelta(days=1))
    assert len(log) == 1
    e = log[0]
    assert (e.visitor_name, e.organisation, e.host_name, e.escort_assigned) == (
        "Ito Mai",
        "Example Systems Integrator",
        "Hana Host",
        "Eiji Escort",
    )
    assert (e.id_document_type, e.id_document_last, e.date) == (
        "drivers_licence",
        "0421",
        "2026-11-30",
    )
    assert e.purpose == "replace the tape library's robot arm"
    got = [(x.zone_id, x.escort_name, x.exit_by, x.exited_at is None) for x in e.passages]
    assert got == [
        ("srv", "Eiji Escort", "badge", False),
        ("vault", "Eiji Escort", "rex", False),
        ("srv", "Eiji Escort", None, True),
    ]
    first = e.passages[0]
    assert first.exited_at is not None and first.entered_at is not None
    assert first.exited_at - first.entered_at == timedelta(minutes=10)
    # The window of the log is by arrival.
    assert (
        await rig.custody.visits.visitor_log(t0 + timedelta(hours=1), t0 + timedelta(days=1)) == []
    )


async def test_registration_refuses_bad_plans(lite: Rig) -> None:
    rig = lite
    p = people(rig)
    v = rig.custody.visits
    good = plan(p, rig)
    with pytest.raises(Invalid, match="unknown zone"):
        await v.register(DESK, VisitPlan(**{**_fields(good), "zones": ("lobby",)}))
    with pytest.raises(Invalid, match="at most 7 days"):
        await v.register(
            DESK, VisitPlan(**{**_fields(good), "valid_to": good.valid_from + timedelta(days=8)})
        )
    past = good.valid_from - timedelta(days=1)
    with pytest.raises(Invalid, match="already over"):
        await v.register(
            DESK,
            VisitPlan(
                **{**_fields(good), "valid_from": past, "valid_to": past + timedelta(hours=1)}
            ),
        )
    guest = rig.add_person("Guest", PersonKind.VISITOR)
    with pytest.raises(Invalid, match="member of staff"):
        await v.register(DESK, VisitPlan(**{**_fields(good), "host_id": guest}))
    with pytest.raises(Invalid, match="staff do not visit"):
        await v.register(
            DESK, VisitPlan(**{**_fields(good), "visitor": None, "visitor_id": p["host"]})
        )
    with Session(rig.engine) as s:
        assert s.exec(select(VisitRow).where(col(VisitRow.site_id) == "hq")).all() == []


def _fields(p: VisitPlan) -> dict[str, object]:
    """A plan's fields, to copy it with changes."""
    return {name: getattr(p, name) for name in p.__slots__}  # type: ignore[attr-defined]
