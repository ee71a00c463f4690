"""Visitors, contractors and media custody end to end on firmware-sim (OSDP Secure Channel over
a pty, RDM6300 over a pty, Modbus TCP doors, a SQLite record log). Clauses 4-8-7(1), 4-8-5(4)-(9),
4-8-9, 4-8-12(2).

The gateway's clock (the decision's ``now``) and the custody services' clock are one clock the
tests move forward, so that a window closing, a return date passing or a contract ending
mid-week takes no waiting. Every action is checked to be a record in the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.clock import utcnow
from gateway.contractors import ContractTerms
from gateway.custody import Actor, NotAllowed, Refused
from gateway.custody_stack import CustodyStack
from gateway.domain import CardId, Direction, DoorState, PersonKind, Reason
from gateway.media.door import Inspection, RequestPlan
from gateway.media.model import Classification, MediaKind
from gateway.media.registry import NewItem
from gateway.records import RecordKind
from gateway.visits.model import CheckIn, IdDocument, NewVisitor, VisitPlan
from tests.integration.harness import Harness, start_harness, stop_harness

ESCORT = "H10301:12:1001"
HOST = "H10301:12:1002"
BADGE = "H10301:50:7"  # from the site's visitor pool
CONTRACTOR = "H10304:4000:123456"
VAULT_TAG = "EM4100:10:305419896"
DESK = Actor("desk", "operator")
DESK2 = Actor("desk2", "operator")
MINA = Actor("mina", "manager", None, ("server-room", "media-vault"))


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        """No offset yet."""
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        """Real time plus the offset."""
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        """Move forward."""
        self.offset += timedelta(**delta)


def custody_site(raw: dict[str, Any]) -> None:
    """The demo site with media rules on the vault and a visitor badge pool."""
    for z in raw["zones"]:
        if z["id"] == "media-vault":
            z["media"] = {
                "encryption_required": True,
                "second_person_inspection": True,
                "inventory_every_days": 30,
                "scan_readers": ["vault-in"],
            }
    raw["custody"] = {
        "check_every_s": 3600,  # the tests run the checks when the clock has moved
        "visitors": {"card_pools": [{"format": "H10301", "facility": 50, "first": 1, "last": 99}]},
        "media": {"exit_grace_s": 1.0},
    }


Make = Callable[..., Any]


@pytest.fixture
async def make_site(tmp_path: Path) -> AsyncIterator[Make]:
    """Start the demo site (with custody settings) on a movable clock; stopped afterwards."""
    started: list[Harness] = []

    async def make(patch: Callable[[dict[str, Any]], None] | None = None) -> tuple[Harness, Clock]:
        """Start one site with ``patch`` on top of the custody settings."""
        clock = Clock()

        def apply(raw: dict[str, Any]) -> None:
            """The custody settings, then the test's own."""
            custody_site(raw)
            if patch is not None:
                patch(raw)

        h = await start_harness(tmp_path / f"site{len(started)}", site_patch=apply, clock=clock)
        started.append(h)
        return h, clock

    try:
        yield make
    finally:
        for h in started:
            await stop_harness(h)


def custody(site: Harness) -> CustodyStack:
    """The site's custody services."""
    assert site.custody is not None
    return site.custody


async def through(site: Harness, door: str = "sr-door") -> None:
    """Walk through a released door, then wait for it to lock again behind."""
    await site.wait_until(lambda: site.sim.door_view(door)["strike_released"], what="released")
    await site.sim.door(door, "open")
    await site.wait_until(lambda: site.door_state(door) is DoorState.LOCKED, what="relocked")


def kinds(site: Harness, prefix: str, after: int = 0) -> list[str]:
    """Kinds of the committed records starting with ``prefix``."""
    return [r.kind.value for s, r in site.written if s > after and r.kind.value.startswith(prefix)]


def alarm_types(site: Harness) -> set[str]:
    """Types of the open alarms."""
    assert site.stack is not None
    return {a.type for a in site.stack.alarms.active()}


async def visit_checked_in(site: Harness, clock: Clock, hours: float = 4) -> tuple[str, str, str]:
    """An escort, a host and a visit to the server room, approved and checked in."""
    escort = await site.add_person("Sato Hanako", ESCORT, pin="2468")
    host = await site.add_person("Suzuki Ichiro", HOST, pin="1357")
    now = clock()
    v = await custody(site).visits.register(
        DESK,
        VisitPlan(
            host_id=host,
            purpose="replace the tape library's robot arm",
            zones=("server-room",),
            valid_from=now,
            valid_to=now + timedelta(hours=hours),
            visitor=NewVisitor("Ito Mai", "Example Systems Integrator"),
        ),
    )
    await custody(site).visits.approve(MINA, v.id)
    await custody(site).visits.check_in(
        DESK,
        v.id,
        CheckIn(IdDocument.PASSPORT, "4471", CardId.parse(BADGE), escort, pin="9753"),
    )
    return v.id, escort, v.visitor_id


async def escorted_in(site: Harness, escort: str, visitor: str) -> None:
    """The visitor badges, then the escort: both go in together."""
    after = site.last_seq
    await site.sim.badge("sr-in", BADGE, "9753")
    await site.wait_record(
        lambda r: r.person_id == visitor and r.reason == Reason.AWAITING_ESCORT.value, after=after
    )
    await site.sim.badge("sr-in", ESCORT, "2468")
    _, granted = await site.wait_record(
        lambda r: r.kind is RecordKind.ACCESS and r.outcome == "granted" and r.person_id == visitor,
        after=after,
    )
    assert granted.detail["escort"] == escort and granted.person_kind == "visitor"
    await through(site)
    await site.wait_until(lambda: set(site.inside("server-room")) == {escort, visitor}, what="in")


async def test_a_visit_from_pre_registration_to_check_out_with_an_escorted_entry(
    make_site: Make,
) -> None:
    site, clock = await make_site()
    vid, escort, visitor = await visit_checked_in(site, clock)
    await escorted_in(site, escort, visitor)
    occupant = next(o for o in site.gateway.occupancy("server-room") if o["person_id"] == visitor)
    assert occupant["escorted_by"] == escort and occupant["person_kind"] == "visitor"
    _, out = await site.badge("sr-out", BADGE)  # the visitor leaves first, then the escort
    assert out.outcome == "granted" and out.direction == "out"
    await through(site)
    _, out = await site.badge("sr-out", ESCORT)
    await through(site)
    await site.wait_until(lambda: site.inside("server-room") == [], what="both out")
    done = await custody(site).visits.check_out(DESK, vid, credential_returned=True)
    assert done.credential_returned is True
    _, late = await site.badge("sr-in", BADGE)  # the returned badge is disabled
    assert late.reason == Reason.CREDENTIAL_NOT_ENABLED.value
    log = await custody(site).visits.visitor_log(clock() - timedelta(hours=1), clock())
    entry = next(e for e in log if e.visit_id == vid)
    assert (entry.visitor_name, entry.organisation, entry.host_name) == (
        "Ito Mai",
        "Example Systems Integrator",
        "Suzuki Ichiro",
    )
    assert (entry.id_document_type, entry.id_document_last, entry.escort_assigned) == (
        "passport",
        "4471",
        "Sato Hanako",
    )
    assert [(p.zone_id, p.escort_name, p.exit_by) for p in entry.passages] == [
        ("server-room", "Sato Hanako", "badge")
    ]
    p = entry.passages[0]
    assert p.entered_at is not None and p.exited_at is not None and p.entered_at < p.exited_at
    assert kinds(site, "visit.") == [
        "visit.registered",
        "visit.approved",
        "visit.checked_in",
        "visit.checked_out",
    ]
    assert {r.actor for _, r in site.written if r.kind.value.startswith("visit.")} == {
        "desk",
        "mina",
    }


async def test_an_overstay_is_an_alarm_and_the_badge_expires_by_itself(make_site: Make) -> None:
    site, clock = await make_site()
    vid, escort, visitor = await visit_checked_in(site, clock, hours=1)
    await escorted_in(site, escort, visitor)
    clock.advance(hours=1, seconds=1)  # the window is over; the visitor is still inside
    done = await custody(site).run_checks()
    assert done.overstays == [vid]
    _, over = await site.wait_record(lambda r: r.kind is RecordKind.VISIT_OVERSTAY)
    assert over.person_id == visitor and over.detail["inside"] == ["server-room"]
    await site.wait_until(lambda: "visit.overstay" in alarm_types(site), what="overstay alarm")
    _, expired = await site.badge("sr-out", BADGE)
    assert expired.reason == Reason.CREDENTIAL_EXPIRED.value  # valid only for the window
    await custody(site).visits.check_out(DESK, vid, credential_returned=True)
    assert site.stack is not None
    alarms = site.stack.alarms
    alarm = next(a for a in alarms.active() if a.type == "visit.overstay")
    await site.wait_until(lambda: not alarms.get(alarm.alarm_id).condition_active, what="cleared")


async def test_a_carry_out_without_approval_is_caught_at_the_door(make_site: Make) -> None:
    site, _ = await make_site()
    sato = await site.add_person("Sato Hanako", VAULT_TAG, zones=(("media-vault", "always"),))
    tape = await custody(site).media.registry.register(
        DESK,
        NewItem(
            MediaKind.TAPE,
            "LTO-0007",
            Classification.CONFIDENTIAL,
            True,
            home_zone="media-vault",
            home_location="shelf B-3",
        ),
    )
    _, entry = await site.badge("vault-in", VAULT_TAG)
    assert entry.outcome == "granted"
    await through(site, "vault-door")
    ins = await custody(site).media.desk.inspect(
        DESK, Inspection("LTO-0007", Direction.OUT, "media-vault", sato, True, door_id="vault-door")
    )
    assert (ins.outcome, ins.refusal) == ("refused", "no_approved_request")
    assert (await custody(site).media.registry.get(tape.id)).state == "home"
    _, caught = await site.wait_record(lambda r: r.kind is RecordKind.MEDIA_UNAPPROVED)
    assert (caught.person_id, caught.door_id, caught.detail["item_id"]) == (
        sato,
        "vault-door",
        tape.id,
    )
    await site.wait_until(lambda: "media.unapproved" in alarm_types(site), what="alarm")
    await site.wait_record(
        lambda r: r.kind is RecordKind.NOTIFICATION and r.detail.get("role") == "manager"
    )
    assert kinds(site, "media.") == ["media.registered", "media.inspected", "media.unapproved"]


async def test_a_second_person_inspection_an_overdue_item_and_its_return(
    make_site: Make,
) -> None:
    site, clock = await make_site()
    sato = await site.add_person("Sato Hanako", VAULT_TAG, zones=(("media-vault", "always"),))
    reg, desk = custody(site).media.registry, custody(site).media.desk
    disk = await reg.register(
        DESK,
        NewItem(MediaKind.HDD, "HDD-0042", Classification.SECRET, True, home_zone="media-vault"),
    )
    plain = await reg.register(
        DESK,
        NewItem(
            MediaKind.USB_MEMORY,
            "USB-0001",
            Classification.INTERNAL,
            False,
            home_zone="media-vault",
        ),
    )
    back_by = clock() + timedelta(days=1)
    with pytest.raises(Refused, match="requires encryption"):
        await desk.request(DESK, RequestPlan(plain.id, Direction.OUT, sato, "copy", back_by, "HQ"))
    req = await desk.request(
        DESK, RequestPlan(disk.id, Direction.OUT, sato, "restore test", back_by, "DR site")
    )
    with pytest.raises(NotAllowed):
        await desk.approve(DESK, req.id)  # an operator is not the zone's manager
    await desk.approve(MINA, req.id)
    first = await desk.inspect(
        DESK, Inspection("HDD-0042", Direction.OUT, "media-vault", sato, True, "sealed")
    )
    assert first.outcome == "awaiting_second"
    with pytest.raises(NotAllowed):
        await desk.confirm(DESK, first.id, passed=True)
    second = await desk.confirm(DESK2, first.id, passed=True, notes="serial matches")
    assert (second.outcome, second.second_by) == ("completed", "desk2")
    assert (await reg.get(disk.id)).state == "out"
    clock.advance(days=1, seconds=1)
    assert (await custody(site).run_checks()).overdue == [disk.id]
    _, overdue = await site.wait_record(lambda r: r.kind is RecordKind.MEDIA_OVERDUE)
    assert overdue.person_id == sato and overdue.detail["item_id"] == disk.id
    await site.wait_until(lambda: "media.overdue" in alarm_types(site), what="overdue alarm")
    back = await desk.inspect(
        DESK2, Inspection("HDD-0042", Direction.IN, "media-vault", sato, True)
    )
    await desk.confirm(DESK, back.id, passed=True)
    assert (await reg.get(disk.id)).state == "home"
    _, returned = await site.wait_record(lambda r: r.kind is RecordKind.MEDIA_RETURNED)
    assert returned.detail["was_overdue"] is True
    assert site.stack is not None
    alarm = next(a for a in site.stack.alarms.active() if a.type == "media.overdue")
    await site.wait_until(
        lambda: not site.stack.alarms.get(alarm.alarm_id).condition_active,
        what="overdue alarm cleared",
    )
    lines, _ = await reg.ledger(item_id=disk.id)
    assert [(m.movement, m.second_actor) for m, _ in lines] == [
        ("registered", None),
        ("carried_out", "desk2"),
        ("returned", "desk"),
    ]
    assert kinds(site, "media.") == [
        "media.registered",
        "media.registered",
        "media.requested",
        "media.approved",
        "media.inspected",
        "media.confirmed",
        "media.moved",
        "media.overdue",
        "media.inspected",
        "media.confirmed",
        "media.moved",
        "media.returned",
    ]


async def test_a_vault_inventory_with_one_missing_and_one_unexpected_item(
    make_site: Make,
) -> None:
    site, _ = await make_site()
    reg, inv = custody(site).media.registry, custody(site).media.inventory
    present = await reg.register(
        DESK,
        NewItem(MediaKind.TAPE, "LTO-0001", Classification.CONFIDENTIAL, True,
                rfid="EM4100:10:601", home_zone="media-vault", home_location="shelf A-1"),
    )  # fmt: skip
    missing = await reg.register(
        DESK,
        NewItem(MediaKind.TAPE, "LTO-0002", Classification.CONFIDENTIAL, True,
                home_zone="media-vault", home_location="shelf A-2"),
    )  # fmt: skip
    stray = await reg.register(
        DESK,
        NewItem(MediaKind.SSD, "SSD-0009", Classification.INTERNAL, True,
                rfid="EM4100:10:609", home_zone="server-room", home_location="spares"),
    )  # fmt: skip
    run = await inv.start(MINA, "media-vault")
    after = site.last_seq
    await site.sim.badge("vault-in", "EM4100:10:601")  # tags read at the vault's reader
    await site.wait_record(
        lambda r: (
            r.kind is RecordKind.MEDIA_INVENTORY_SCAN and r.detail.get("item_id") == present.id
        ),
        after=after,
    )
    await site.sim.badge("vault-in", "EM4100:10:609")
    await site.wait_record(
        lambda r: r.kind is RecordKind.MEDIA_INVENTORY_SCAN and r.detail.get("item_id") == stray.id,
        after=after,
    )
    done = await inv.complete(DESK, run.id)
    found = {(f["finding"], f["item_id"]) for f in done.findings["items"]}
    assert found == {("missing", missing.id), ("unexpected", stray.id)}
    findings = [r for s, r in site.written if s > after and r.kind is RecordKind.MEDIA_FINDING]
    assert sorted(r.detail["finding"] for r in findings) == ["missing", "unexpected"]
    await site.wait_until(lambda: "media.missing" in alarm_types(site), what="missing alarm")
    # The tags are nobody's badges: the vault door stayed shut for them.
    denials = [
        r
        for s, r in site.written
        if s > after and r.kind is RecordKind.ACCESS and r.reader_id == "vault-in"
    ]
    assert [r.reason for r in denials] == [Reason.CREDENTIAL_NOT_FOUND.value] * 2
    events = [r.detail["event"] for _, r in site.written if r.kind is RecordKind.MEDIA_INVENTORY]
    assert events == ["started", "completed"]


async def test_a_contractor_whose_contract_ends_mid_week_and_a_laptop_left_unreconciled(
    make_site: Make,
) -> None:
    def no_escort_for_contractors(raw: dict[str, Any]) -> None:
        """Contractors need no escort in the server room here."""
        for z in raw["zones"]:
            if z["id"] == "server-room":
                z["escort"] = {"required": True, "contractors": False}

    site, clock = await make_site(no_escort_for_contractors)
    tanaka = await site.add_person(
        "Tanaka Kenji", CONTRACTOR, kind=PersonKind.CONTRACTOR, pin="8642"
    )
    _, before = await site.badge("sr-in", CONTRACTOR)
    assert before.reason == Reason.CONTRACT_EXPIRED.value  # no contract on file yet
    wednesday = clock() + timedelta(days=2)
    await custody(site).contractors.set_terms(
        MINA,
        tanaka,
        ContractTerms("Kanto Datacenter Services", wednesday, True, clock().date()),
    )
    # An approved carry-in of the contractor's laptop, inspected in at the desk.
    desk = custody(site).media.desk
    laptop = await custody(site).media.registry.register(
        DESK,
        NewItem(MediaKind.LAPTOP, "KDS-LT-9", Classification.INTERNAL, True, owner_id=tanaka),
    )
    req = await desk.request(
        DESK,
        RequestPlan(laptop.id, Direction.IN, tanaka, "array firmware", clock() + timedelta(hours=8),
                    zone_id="server-room"),
    )  # fmt: skip
    await desk.approve(MINA, req.id)
    ins = await desk.inspect(
        DESK, Inspection("KDS-LT-9", Direction.IN, "server-room", tanaka, True)
    )
    assert ins.outcome == "completed"
    _, granted = await site.badge("sr-in", CONTRACTOR, pin="8642")
    assert granted.outcome == "granted"  # Monday: under contract
    await through(site)
    after = site.last_seq
    _, out = await site.badge("sr-out", CONTRACTOR)  # leaving is never refused
    assert out.outcome == "granted"
    await through(site)
    _, left = await site.wait_record(
        lambda r: r.kind is RecordKind.MEDIA_UNRECONCILED_EXIT, after=after
    )
    assert (left.person_id, left.detail["item_id"]) == (tanaka, laptop.id)
    await site.wait_until(lambda: "media.unreconciled_exit" in alarm_types(site), what="alarm")
    # Thursday: the contract has ended; the same card is refused.
    clock.advance(days=3)
    _, after_end = await site.badge("sr-in", CONTRACTOR)
    assert after_end.reason == Reason.CONTRACT_EXPIRED.value and after_end.person_id == tanaka
    await custody(site).run_checks()
    _, finding = await site.wait_record(lambda r: r.kind is RecordKind.CONTRACTOR_FINDING)
    assert finding.detail["finding"] == "contract_ended" and finding.person_id == tanaka
    assert kinds(site, "contractor.") == ["contractor.updated", "contractor.finding"]
