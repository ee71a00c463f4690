"""Media custody on a real gateway, record log, alarm console and store (SQLite, PostgreSQL).

The registry and its ledger (4-8-5(9)); carry-out only on the zone manager's leave (4-8-5(4)),
never the requester's; unencrypted items stay where the zone requires encryption (4-8-5(6));
inspections at the door, with a second person where set (4-8-5(7)); movements without approval
caught and alarmed; overdue items alarmed and cleared on return; carried-in items reconciled
when their holder leaves (4-8-7(1)); disposal with its evidence (4-8-5(8)).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway.custody import Invalid, NotAllowed, Refused
from gateway.domain import Direction, PersonKind
from gateway.media.door import Inspection, RequestPlan
from gateway.media.model import (
    Classification,
    DisposalMethod,
    InspectionOutcome,
    ItemState,
    MediaKind,
    RequestStatus,
)
from gateway.media.registry import Certificate, Disposal, NewItem
from gateway.records import NewRecord, RecordKind
from tests.gateway.media.custody_rig import Rig, actor, sqlite_engine, start_rig, stop_rig

OP1 = actor("op1", "operator")
OP2 = actor("op2", "operator")


@pytest.fixture
async def rig(engine: Engine) -> AsyncIterator[Rig]:
    """A running gateway with the custody services and the alarm console."""
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


def tape(tag: str = "T-0001", **kw: Any) -> NewItem:
    """A backup tape at home on a vault shelf."""
    values: dict[str, Any] = {
        "kind": MediaKind.TAPE,
        "tag": tag,
        "classification": Classification.CONFIDENTIAL,
        "encrypted": True,
        "home_zone": "vault",
        "home_location": "shelf B-3",
        **kw,
    }
    return NewItem(**values)


def carry_out(rig: Rig, item_id: str, person: str, **kw: Any) -> RequestPlan:
    """A carry-out to the off-site store, back in two days."""
    values: dict[str, Any] = {
        "item_id": item_id,
        "direction": Direction.OUT,
        "person_id": person,
        "purpose": "off-site backup rotation",
        "destination": "Tokyo off-site store",
        "return_by": rig.clock() + timedelta(days=2),
        **kw,
    }
    return RequestPlan(**values)


def at_door(tag: str, person: str, direction: Direction = Direction.OUT, **kw: Any) -> Inspection:
    """An inspection at the vault door."""
    values: dict[str, Any] = {
        "tag": tag,
        "direction": direction,
        "zone_id": "vault",
        "person_id": person,
        "passed": True,
        "door_id": "d-vault",
        **kw,
    }
    return Inspection(**values)


def active(rig: Rig, type_: str) -> list[Any]:
    """Open alarms of one type."""
    assert rig.alarms is not None
    return [a for a in rig.alarms.alarms.active() if a.type == type_]


async def test_registry_and_ledger(rig: Rig) -> None:
    reg = rig.custody.media.registry
    owner = rig.add_person("Sato Hanako")
    item = await reg.register(OP1, tape(owner_id=owner, serial="LTO9-778812", rfid="em4100:10:7"))
    assert (item.state, item.zone_id, item.rfid) == ("home", "vault", "EM4100:10:7")
    with pytest.raises(Refused, match="registered already"):
        await reg.register(OP1, tape())
    with pytest.raises(Invalid, match="home_zone"):
        await reg.register(OP1, tape("T-0002", home_zone="lobby"))
    laptop = await reg.register(
        OP1,
        NewItem(MediaKind.LAPTOP, "KDS-LT-9", Classification.INTERNAL, encrypted=True),
    )
    assert laptop.state == ItemState.AWAY.value  # an outside item: no home here
    moved = await reg.update(OP1, item.id, {"home_location": "safe 2", "encrypted": True})
    assert moved.home_location == "safe 2"
    lines, total = await reg.ledger(item_id=item.id)
    assert total == 2
    assert [(m.movement, m.location_from, m.location_to) for m, _ in lines] == [
        ("registered", None, "vault: shelf B-3"),
        ("relocated", "vault: shelf B-3", "vault: safe 2"),
    ]
    await rig.wait(lambda: len(rig.records(RecordKind.MEDIA_MOVED)) == 1, "records")
    assert [r.kind for r in rig.records(RecordKind.MEDIA_REGISTERED)] == [
        RecordKind.MEDIA_REGISTERED
    ] * 2
    updated = rig.records(RecordKind.MEDIA_UPDATED)[0]
    assert updated.detail["changes"] == {"home_location": {"from": "shelf B-3", "to": "safe 2"}}
    found, n = await reg.find(text="LTO9")
    assert n == 1 and found[0].id == item.id


async def test_carry_out_needs_the_zone_managers_leave_and_never_the_requesters(lite: Rig) -> None:
    rig = lite
    sato = rig.add_person("Sato Hanako")
    vic_person = rig.add_person("Vic Vault")
    item = await rig.custody.media.registry.register(OP1, tape())
    desk = rig.custody.media.desk
    req = await desk.request(OP1, carry_out(rig, item.id, sato))
    assert (req.status, req.zone_id) == ("requested", "vault")
    with pytest.raises(NotAllowed, match="manager of the request's zone"):
        await desk.approve(actor("mina", "manager", None, "srv"), req.id)
    with pytest.raises(NotAllowed, match="carry out themselves"):
        await desk.approve(actor("sato", "manager", sato, "vault"), req.id)
    mine = await desk.request(
        actor("vic", "manager", vic_person, "vault"), carry_out(rig, item.id, sato)
    )
    with pytest.raises(NotAllowed):
        await desk.approve(actor("vic", "manager", vic_person, "vault"), mine.id)
    ok = await desk.approve(actor("vic", "manager", vic_person, "vault"), req.id, "rotation")
    assert (ok.status, ok.decided_by) == (RequestStatus.APPROVED.value, "vic")
    plain = await rig.custody.media.registry.register(OP1, tape("T-0009", encrypted=False))
    with pytest.raises(Refused, match="requires encryption"):
        await desk.request(OP1, carry_out(rig, plain.id, sato))
    assert [r.kind for r in rig.records(RecordKind.MEDIA_APPROVED)] == [RecordKind.MEDIA_APPROVED]


async def test_a_carry_out_without_approval_is_caught_at_the_door(lite: Rig) -> None:
    rig = lite
    sato = rig.add_person("Sato Hanako")
    item = await rig.custody.media.registry.register(OP1, tape())
    ins = await rig.custody.media.desk.inspect(OP1, at_door("T-0001", sato))
    assert (ins.outcome, ins.refusal) == ("refused", "no_approved_request")
    assert (await rig.custody.media.registry.get(item.id)).state == "home"
    stray = await rig.custody.media.desk.inspect(OP1, at_door("USB-UNKNOWN", sato))
    assert (stray.item_id, stray.refusal) == (None, "unknown_item")  # unregistered media
    unapproved = rig.records(RecordKind.MEDIA_UNAPPROVED)
    assert [(r.detail["refusal"], r.person_id, r.door_id) for r in unapproved] == [
        ("no_approved_request", sato, "d-vault"),
        ("unknown_item", sato, "d-vault"),
    ]
    await rig.wait(lambda: len(active(rig, "media.unapproved")) == 2, "two alarms")
    sources = sorted(a.source for a in active(rig, "media.unapproved"))
    assert sources == sorted([f"media:{item.id}", "media:tag:USB-UNKNOWN"])
    await rig.wait(
        lambda: any(
            r.detail.get("role") == "manager" for r in rig.records(RecordKind.NOTIFICATION)
        ),
        "the vault's manager told",
    )


async def test_second_person_inspection_then_overdue_then_return(rig: Rig) -> None:
    sato = rig.add_person("Sato Hanako")
    item = await rig.custody.media.registry.register(OP1, tape())
    desk = rig.custody.media.desk
    req = await desk.request(OP1, carry_out(rig, item.id, sato))
    await desk.approve(actor("vic", "manager", None, "vault"), req.id)
    first = await desk.inspect(OP1, at_door("T-0001", sato, notes="label intact"))
    assert first.outcome == InspectionOutcome.AWAITING_SECOND.value
    assert (await rig.custody.media.registry.get(item.id)).state == "home"  # not yet
    with pytest.raises(NotAllowed, match="other than the inspector"):
        await desk.confirm(OP1, first.id, passed=True)
    with pytest.raises(NotAllowed, match="carrier"):
        await desk.confirm(actor("sato", "operator", sato), first.id, passed=True)
    done = await desk.confirm(OP2, first.id, passed=True, notes="checked the serial")
    assert (done.outcome, done.second_by, done.movement_id is not None) == (
        "completed",
        "op2",
        True,
    )
    out = await rig.custody.media.registry.get(item.id)
    assert (out.state, out.holder_id, out.request_id) == ("out", sato, req.id)
    assert (await desk.get_request(req.id)).status == RequestStatus.USED.value
    lines, _ = await rig.custody.media.registry.ledger(item_id=item.id)
    last = lines[-1][0]
    assert (last.movement, last.actor, last.second_actor, last.location_to) == (
        "carried_out",
        "op1",
        "op2",
        "out: Tokyo off-site store",
    )
    # Two days later it is not back: overdue, once.
    rig.clock.advance(days=2, seconds=1)
    assert (await rig.custody.run_checks()).overdue == [item.id]
    assert (await rig.custody.run_checks()).overdue == []
    over = rig.records(RecordKind.MEDIA_OVERDUE)
    assert len(over) == 1 and over[0].person_id == sato and over[0].detail["item_id"] == item.id
    await rig.wait(lambda: len(active(rig, "media.overdue")) == 1, "overdue alarm")
    assert [i.id for i in await rig.custody.media.registry.overdue()] == [item.id]
    # It comes back: inspected in (a second person again), home, returned, alarm cleared.
    back = await desk.inspect(OP2, at_door("T-0001", sato, Direction.IN))
    await desk.confirm(OP1, back.id, passed=True)
    home = await rig.custody.media.registry.get(item.id)
    assert (home.state, home.holder_id, home.due_back, home.overdue_since) == (
        "home",
        None,
        None,
        None,
    )
    returned = rig.records(RecordKind.MEDIA_RETURNED)
    assert len(returned) == 1 and returned[0].detail["was_overdue"] is True
    alarm = active(rig, "media.overdue")[0]
    assert rig.alarms is not None
    await rig.wait(
        lambda: not rig.alarms.alarms.get(alarm.alarm_id).condition_active, "overdue cleared"
    )


async def test_a_second_person_who_does_not_confirm_stops_the_item(lite: Rig) -> None:
    rig = lite
    sato = rig.add_person("Sato Hanako")
    item = await rig.custody.media.registry.register(OP1, tape())
    req = await rig.custody.media.desk.request(OP1, carry_out(rig, item.id, sato))
    await rig.custody.media.desk.approve(actor("vic", "manager", None, "vault"), req.id)
    first = await rig.custody.media.desk.inspect(OP1, at_door("T-0001", sato))
    no = await rig.custody.media.desk.confirm(OP2, first.id, passed=False, notes="wrong label")
    assert (no.outcome, no.refusal) == ("refused", "second_person_failed")
    assert (await rig.custody.media.registry.get(item.id)).state == "home"
    with pytest.raises(Refused, match="not waiting"):
        await rig.custody.media.desk.confirm(OP2, first.id, passed=True)
    assert rig.records(RecordKind.MEDIA_UNAPPROVED) == []  # a failed check is not an alarm


async def test_leaving_with_a_carried_in_item_uninspected_is_an_alarm(lite: Rig) -> None:
    rig = lite
    tanaka = rig.add_person("Tanaka Kenji", PersonKind.CONTRACTOR)
    laptop = await rig.custody.media.registry.register(
        OP1, NewItem(MediaKind.LAPTOP, "KDS-LT-9", Classification.INTERNAL, True, owner_id=tanaka)
    )
    desk = rig.custody.media.desk
    req = await desk.request(
        OP1,
        RequestPlan(
            laptop.id,
            Direction.IN,
            tanaka,
            "firmware update of the storage array",
            return_by=rig.clock() + timedelta(hours=8),
            zone_id="srv",
        ),
    )
    await desk.approve(actor("mina", "manager", None, "srv"), req.id)
    srv_door = {"zone_id": "srv", "door_id": "d-srv"}
    ins = await desk.inspect(OP1, at_door("KDS-LT-9", tanaka, Direction.IN, **srv_door))
    assert ins.outcome == "completed"  # the server room wants no second person
    assert (await rig.custody.media.registry.get(laptop.id)).state == "inside"
    rig.pass_door("srv", tanaka, "in")
    rig.pass_door("srv", tanaka, "out")
    after = len(rig.written)
    await rig.gateway.record(
        NewRecord(
            RecordKind.ACCESS_TAKEN,
            rig.clock(),
            door_id="d-srv",
            zone_id="srv",
            person_id=tanaka,
            person_kind="contractor",
            direction="out",
        )
    )
    await rig.wait(
        lambda: rig.records(RecordKind.MEDIA_UNRECONCILED_EXIT) != [], "exit alarm record"
    )
    left = rig.records(RecordKind.MEDIA_UNRECONCILED_EXIT)[0]
    assert (left.person_id, left.zone_id, left.detail["item_id"]) == (tanaka, "srv", laptop.id)
    assert all(r.kind is not RecordKind.DOOR_FAULT for _, r in rig.written[after:])
    await rig.wait(lambda: len(active(rig, "media.unreconciled_exit")) == 1, "alarm")
    # The desk catches up: inspected out, back to its owner; the alarm's condition ends.
    await desk.inspect(OP1, at_door("KDS-LT-9", tanaka, Direction.OUT, **srv_door))
    assert (await rig.custody.media.registry.get(laptop.id)).state == "away"
    alarm = active(rig, "media.unreconciled_exit")[0]
    assert rig.alarms is not None
    await rig.wait(lambda: not rig.alarms.alarms.get(alarm.alarm_id).condition_active, "cleared")


async def test_an_exit_inspected_within_the_grace_is_no_alarm(tmp_path: Path) -> None:
    def slow(raw: dict[str, Any]) -> None:
        """A longer grace, so that the desk can inspect in time."""
        raw["custody"]["media"]["exit_grace_s"] = 1.5

    engine = sqlite_engine(tmp_path)
    rig = await start_rig(engine, patch=slow)
    try:
        tanaka = rig.add_person("Tanaka Kenji", PersonKind.CONTRACTOR)
        usb = await rig.custody.media.registry.register(
            OP1, NewItem(MediaKind.USB_MEMORY, "USB-77", Classification.INTERNAL, True)
        )
        desk = rig.custody.media.desk
        req = await desk.request(
            OP1,
            RequestPlan(
                usb.id,
                Direction.IN,
                tanaka,
                "log collection",
                rig.clock() + timedelta(hours=1),
                zone_id="srv",
            ),
        )
        await desk.approve(actor("mina", "manager", None, "srv"), req.id)
        await desk.inspect(
            OP1, at_door("USB-77", tanaka, Direction.IN, zone_id="srv", door_id=None)
        )
        await rig.gateway.record(
            NewRecord(
                RecordKind.ACCESS_TAKEN,
                rig.clock(),
                zone_id="srv",
                person_id=tanaka,
                direction="out",
            )
        )
        await desk.inspect(
            OP1, at_door("USB-77", tanaka, Direction.OUT, zone_id="srv", door_id=None)
        )
        watch = rig.custody.media.watch
        await rig.wait(lambda: watch.pending_checks == 0, "the grace ran out")
        assert rig.records(RecordKind.MEDIA_UNRECONCILED_EXIT) == []
    finally:
        await stop_rig(rig)
        engine.dispose()


async def test_disposal_needs_evidence_and_keeps_the_certificate_and_its_hash(rig: Rig) -> None:
    item = await rig.custody.media.registry.register(OP1, tape())
    witness = rig.add_person("Kobayashi Yuki")
    reg = rig.custody.media.registry
    when = rig.clock() - timedelta(hours=1)
    with pytest.raises(Invalid, match="witness, a photo"):
        await reg.dispose(OP1, item.id, Disposal(DisposalMethod.SHREDDING, "Shred Co.", when))
    pdf = b"%PDF-1.7 certificate of destruction, serial LTO9-778812, with photos"
    d = await reg.dispose(
        OP1,
        item.id,
        Disposal(
            DisposalMethod.DEGAUSSING,
            "Tokyo Secure Disposal K.K.",
            when,
            witness_id=witness,
            photo_evidence_seq=42,
            certificate=Certificate("cert.pdf", "application/pdf", pdf),
        ),
    )
    assert d.certificate_sha256 == hashlib.sha256(pdf).hexdigest()
    cert = await reg.certificate(item.id)
    assert (cert.data, cert.sha256, cert.filename) == (pdf, d.certificate_sha256, "cert.pdf")
    assert (await reg.get(item.id)).state == "disposed"
    rec = rig.records(RecordKind.MEDIA_DISPOSED)[0]
    assert (rec.detail["certificate_sha256"], rec.detail["witness_id"], rec.detail["method"]) == (
        d.certificate_sha256,
        witness,
        "degaussing",
    )
    with pytest.raises(Refused, match="disposed"):
        await reg.dispose(
            OP1, item.id, Disposal(DisposalMethod.SHREDDING, "x", when, witness_id=witness)
        )
    again = await rig.custody.media.desk.inspect(OP1, at_door("T-0001", witness))
    assert again.refusal == "disposed"  # a destroyed item at the door is caught
    lines, _ = await reg.ledger(item_id=item.id)
    assert [m.movement for m, _ in lines] == ["registered", "disposed"]
