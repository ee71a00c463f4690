"""Vault inventories (4-8-12(2)) on a real gateway, record log, alarm console and store.

Items present are scanned (typed at the desk, or read at a scan reader as a device event) and
reconciled with the ledger on completion: missing, unexpected and overdue items become
findings; a scheduled inventory not done in time is a finding, once per due date.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from gateway.custody import Refused
from gateway.domain import CardId, Direction
from gateway.events import CardRead
from gateway.media.door import Inspection, RequestPlan
from gateway.media.model import Classification, MediaKind
from gateway.media.registry import NewItem
from gateway.records import RecordKind
from gateway.storage.models import Credential
from tests.gateway.media.custody_rig import Rig, actor, sqlite_engine, start_rig, stop_rig

OP = actor("op1", "operator")
VIC = actor("vic", "manager", None, "vault")


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


def item(tag: str, zone: str | None = "vault", rfid: str | None = None) -> NewItem:
    """An encrypted disk at home in ``zone`` (an outside item without one)."""
    return NewItem(
        MediaKind.HDD,
        tag,
        Classification.CONFIDENTIAL,
        encrypted=True,
        home_zone=zone,
        home_location="safe 1" if zone else None,
        rfid=rfid,
    )


async def test_an_inventory_finds_missing_unexpected_and_overdue_items(rig: Rig) -> None:
    reg, desk, inv = rig.custody.media.registry, rig.custody.media.desk, rig.custody.media.inventory
    present = await reg.register(OP, item("D-1", rfid="EM4100:10:501"))
    missing = await reg.register(OP, item("D-2"))
    late = await reg.register(OP, item("D-3"))
    elsewhere = await reg.register(OP, item("S-1", zone="srv"))
    sato = rig.add_person("Sato Hanako")
    req = await desk.request(
        OP,
        RequestPlan(
            late.id,
            Direction.OUT,
            sato,
            "audit copy",
            rig.clock() + timedelta(days=1),
            destination="auditor's office",
        ),
    )
    await desk.approve(VIC, req.id)
    first = await desk.inspect(OP, Inspection("D-3", Direction.OUT, "vault", sato, passed=True))
    await desk.confirm(actor("op2", "operator"), first.id, passed=True)
    rig.clock.advance(days=2)

    run = await inv.start(VIC, "vault")
    with pytest.raises(Refused, match="open already"):
        await inv.start(OP, "vault")
    # D-1 read at the desk reader (a tag nobody badges with), S-1 and a stray disk typed.
    rig.gateway._on_device_event(  # as a reader driver delivers it
        CardRead("r-desk", CardId.parse("EM4100:10:501"), time.perf_counter_ns())
    )
    await rig.wait(lambda: len(rig.records(RecordKind.MEDIA_INVENTORY_SCAN)) == 1, "reader scan")
    await inv.scan(OP, run.id, "S-1")
    again = await inv.scan(OP, run.id, "s-1 ".upper())  # a repeat is the same scan
    await inv.scan(OP, run.id, "NOPE-404")
    done = await inv.complete(VIC, run.id)
    counts = done.findings["counts"]
    assert counts == {
        "expected": 2,
        "scanned": 3,
        "missing": 1,
        "unexpected": 2,
        "overdue": 1,
    }
    found = {(f["finding"], f["tag"]) for f in done.findings["items"]}
    assert found == {
        ("missing", "D-2"),
        ("unexpected", "S-1"),
        ("unexpected", "NOPE-404"),
        ("overdue", "D-3"),
    }
    _, scans = await inv.get(run.id)
    assert sorted((sc.tag, sc.source, sc.item_id or "") for sc in scans) == sorted(
        [
            ("EM4100:10:501", "reader", present.id),
            ("S-1", "typed", elsewhere.id),
            ("NOPE-404", "typed", ""),
        ]
    )
    assert again.id == next(sc.id for sc in scans if sc.tag == "S-1")
    records = rig.records(RecordKind.MEDIA_FINDING)
    assert sorted((r.detail["finding"], r.detail["tag"]) for r in records) == sorted(found)
    assert {r.detail.get("item_id") for r in records if r.detail["finding"] == "missing"} == {
        missing.id
    }
    assert rig.alarms is not None
    await rig.wait(
        lambda: any(a.type == "media.missing" for a in rig.alarms.alarms.active()),
        "missing alarm",
    )
    events = [r.detail["event"] for r in rig.records(RecordKind.MEDIA_INVENTORY)]
    assert events == ["started", "completed"]
    with pytest.raises(Refused):
        await inv.scan(OP, run.id, "D-1")  # completed: no more scans


async def test_a_badge_at_the_scan_reader_is_not_a_scan(lite: Rig) -> None:
    rig = lite
    staff = rig.add_person("Staff", zones=("vault",))
    card = CardId.parse("H10301:12:1001")
    with Session(rig.engine) as s:
        s.add(
            Credential(
                site_id="hq",
                person_id=staff,
                format=card.format,
                facility=card.facility,
                number=card.number,
                card_key=card.key,
            )
        )
        s.commit()
    await rig.gateway.reload_person(staff)
    run = await rig.custody.media.inventory.start(OP, "vault")
    tap = rig.gateway._on_device_event  # as a reader driver delivers it
    tap(CardRead("r-desk", card, time.perf_counter_ns()))  # somebody's badge
    tap(CardRead("r-srv", CardId.parse("EM4100:10:9"), time.perf_counter_ns()))  # not a scan reader
    tap(CardRead("r-desk", CardId.parse("EM4100:10:9"), time.perf_counter_ns()))
    await rig.wait(lambda: len(rig.records(RecordKind.MEDIA_INVENTORY_SCAN)) == 1, "one scan")
    _, scans = await rig.custody.media.inventory.get(run.id)
    assert [sc.tag for sc in scans] == ["EM4100:10:9"]


async def test_a_missed_inventory_is_a_finding_once_per_due_date(rig: Rig) -> None:
    inv = rig.custody.media.inventory
    assert await inv.check_missed() == []  # the schedule starts now
    rig.clock.advance(days=31)
    assert await inv.check_missed() == []  # due after 30 days, 2 days' grace
    rig.clock.advance(days=1, seconds=1)
    assert await inv.check_missed() == ["vault"]
    assert await inv.check_missed() == []
    first = rig.records(RecordKind.MEDIA_FINDING)[0]
    assert (first.zone_id, first.detail["finding"], first.detail["last_completed"]) == (
        "vault",
        "inventory_missed",
        None,
    )
    run = await inv.start(OP, "vault")
    await inv.complete(OP, run.id)
    rig.clock.advance(days=31)
    assert await inv.check_missed() == []  # due 30 days after the last one, then 2 days' grace
    rig.clock.advance(days=1)
    assert await inv.check_missed() == ["vault"]
    second = rig.records(RecordKind.MEDIA_FINDING)[-1]
    assert second.detail["last_completed"] is not None
    assert second.detail["due"] != first.detail["due"]
