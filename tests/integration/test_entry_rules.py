"""Server-room entry rules end to end on firmware-sim (OSDP Secure Channel, Modbus TCP):
occupancy, anti-passback, two-person, escort, interlock, purpose, training, contracts,
recertification, door modes and lockdown, duress, first-person-in, lone occupant.
Clauses 4-8-7(1)(2)(3), 4-8-3, 4-8-9, 4-8-11(2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.domain import DoorMode, DoorState, PersonKind, Reason
from gateway.door_modes import ModeRefused
from gateway.records import NewRecord, RecordKind
from tests.integration.harness import Harness, start_harness, stop_harness

STAFF = "H10301:12:1001"
STAFF2 = "H10301:12:1002"
VISITOR = "H10301:12:2001"
VAULT_TAG = "EM4100:10:305419896"

Patch = Callable[[dict[str, Any]], None]


@pytest.fixture
def make_site(tmp_path: Path) -> Any:
    """Start the demo site with the zone/door settings a test asks for."""
    started: list[Harness] = []

    async def make(zone: dict[str, Any] | None = None, patch: Patch | None = None) -> Harness:
        def apply(raw: dict[str, Any]) -> None:
            for z in raw["zones"]:
                if z["id"] == "server-room":
                    z.update(zone or {})
            if patch is not None:
                patch(raw)

        h = await start_harness(tmp_path / f"site{len(started)}", site_patch=apply)
        started.append(h)
        return h

    yield make
    return None


async def through(site: Harness, door: str = "sr-door") -> None:
    """Walk through a released door (it closes by itself behind the person)."""
    await site.wait_until(
        lambda: site.sim.door_view(door)["strike_released"], what=f"{door} released"
    )
    await site.sim.door(door, "open")


async def inside_is(site: Harness, expected: list[str], zone: str = "server-room") -> None:
    await site.wait_until(
        lambda: site.inside(zone) == expected, what=f"{zone} occupancy {expected}"
    )


def kinds_after(site: Harness, seq: int) -> list[RecordKind]:
    return [r.kind for s, r in site.written if s > seq]


async def cleanup(site: Harness) -> None:
    await stop_harness(site)


# --- occupancy and anti-passback ----------------------------------------------------------


async def test_occupancy_follows_entries_and_exits(make_site: Any) -> None:
    site = await make_site({"rex_attribution": "last_in"})
    try:
        a = await site.add_person("A", STAFF, pin="2468")
        b = await site.add_person("B", STAFF2, pin="1357")
        await site.badge("sr-in", STAFF, pin="2468")
        await through(site)
        await inside_is(site, [a])
        await site.wait_until(
            lambda: site.door_state("sr-door") is DoorState.LOCKED, what="relocked"
        )
        await site.badge("sr-in", STAFF2, pin="1357")
        await through(site)
        await inside_is(site, [a, b])
        await site.wait_until(
            lambda: site.door_state("sr-door") is DoorState.LOCKED, what="relocked"
        )
        _, out = await site.badge("sr-out", STAFF)
        assert out.direction == "out"
        await through(site)
        await inside_is(site, [b])
        await site.wait_until(
            lambda: site.door_state("sr-door") is DoorState.LOCKED, what="relocked"
        )
        after = site.last_seq
        await site.sim.door("sr-door", "rex")  # B leaves by request-to-exit: taken as the last in
        _, attributed = await site.wait_record(
            lambda r: r.kind is RecordKind.ZONE_EXIT_ATTRIBUTED, after=after
        )
        assert attributed.person_id == b
        await inside_is(site, [])
    finally:
        await cleanup(site)


async def test_hard_anti_passback_and_forgiveness(make_site: Any) -> None:
    site = await make_site({"anti_passback": "hard"})
    try:
        a = await site.add_person("A", STAFF, pin="2468")
        await site.badge("sr-in", STAFF, pin="2468")
        await through(site)
        await inside_is(site, [a])
        _, again = await site.badge("sr-in", STAFF, pin="2468")
        assert (again.outcome, again.reason) == ("denied", Reason.ANTIPASSBACK_VIOLATION.value)
        await site.wait_record(
            lambda r: r.kind is RecordKind.ACCESS_ANTI_PASSBACK and r.person_id == a
        )
        seq = await site.gateway.forgive_passback(
            "server-room", a, "operator", "card passed back by mistake"
        )
        forgiven = next(r for s, r in site.written if s == seq)
        assert forgiven.kind is RecordKind.ZONE_PASSBACK_FORGIVEN and forgiven.actor == "operator"
        assert site.inside("server-room") == []
        _, ok = await site.badge("sr-in", STAFF, pin="2468")
        assert ok.outcome == "granted"
    finally:
        await cleanup(site)


async def test_soft_anti_passback_grants_and_records_the_violation(make_site: Any) -> None:
    site = await make_site({"anti_passback": "soft"})
    try:
        a = await site.add_person("A", STAFF, pin="2468")
        _, out = await site.badge("sr-out", STAFF)  # leaving without having entered
        assert out.outcome == "granted" and out.detail["violations"] == ["AntipassbackViolation"]
        _, v = await site.wait_record(lambda r: r.kind is RecordKind.ACCESS_ANTI_PASSBACK)
        assert v.person_id == a and v.detail["enforced"] is False
    finally:
        await cleanup(site)


# --- two-person and escort ------------------------------------------------------------------


async def test_two_person_rule(make_site: Any) -> None:
    site = await make_site({"two_person": True, "two_person_window_s": 4})
    try:
        a = await site.add_person("A", STAFF, pin="2468")
        b = await site.add_person("B", STAFF2, pin="1357")
        _, first = await site.badge("sr-in", STAFF, pin="2468")
        assert (first.outcome, first.reason) == ("pending", Reason.AWAITING_SECOND_PERSON.value)
        assert not site.sim.door_view("sr-door")["strike_released"]
        after = site.last_seq
        await site.sim.badge("sr-in", STAFF2, "1357")
        grants = []
        for pid in (a, b):
            _, g = await site.wait_record(
                lambda r, pid=pid: (
                    r.kind is RecordKind.ACCESS and r.outcome == "granted" and r.person_id == pid
                ),
                after=after,
            )
            grants.append(g)
        assert grants[0].detail["pending_seq"] and sorted(grants[0].detail["group"]) == sorted(
            [a, b]
        )
        await through(site)
        await inside_is(site, [a, b])
        # alone, the window runs out
        await site.wait_until(
            lambda: site.door_state("sr-door") is DoorState.LOCKED, what="relocked"
        )
        await site.gateway.forgive_passback("server-room", a, "operator", None)
        after = site.last_seq
        await site.sim.badge("sr-out", STAFF)
        await site.sim.badge("sr-in", STAFF, "2468")
        _, timeout = await site.wait_record(
            lambda r: r.reason == Reason.SECOND_PERSON_NOT_PRESENTED.value, after=after, within=15
        )
        assert timeout.outcome == "denied" and timeout.person_id == a
    finally:
        await cleanup(site)


async def test_escort_rule_visitor_first_and_astray(make_site: Any) -> None:
    site = await make_site({"escort": {"window_s": 6}})
    try:
        s = await site.add_person("Staff", STAFF, pin="2468")
        v = await site.add_person("Visitor", VISITOR, kind=PersonKind.VISITOR, pin="9753")
        _, pending = await site.badge("sr-in", VISITOR, pin="9753")
        assert (pending.outcome, pending.reason) == ("pending", Reason.AWAITING_ESCORT.value)
        await site.wait_until(
            lambda: any(f["color"] == "amber" for f in site.sim.feedback("sr-in")), what="amber"
        )
        after = site.last_seq
        await site.sim.badge("sr-in", STAFF, "2468")
        _, vg = await site.wait_record(
            lambda r: r.outcome == "granted" and r.person_id == v, after=after
        )
        assert vg.detail["escort"] == s and vg.person_kind == "visitor"
        await through(site)
        await inside_is(site, [s, v])
        occ = site.gateway.occupancy("server-room")
        assert occ[1]["escorted_by"] == s
        # the escort leaves the visitor behind: visitor astray
        await site.wait_until(
            lambda: site.door_state("sr-door") is DoorState.LOCKED, what="relocked"
        )
        after = site.last_seq
        await site.badge("sr-out", STAFF)
        await through(site)
        _, astray = await site.wait_record(
            lambda r: r.kind is RecordKind.ESCORT_ASTRAY, after=after
        )
        assert astray.person_id == v and astray.detail["escort"] == s
    finally:
        await cleanup(site)


async def test_escort_first_then_visitor_and_visitor_alone_times_out(make_site: Any) -> None:
    site = await make_site({"escort": {"window_s": 4}})
    try:
        s = await site.add_person("Staff", STAFF, pin="2468")
        v = await site.add_person("Visitor", VISITOR, kind=PersonKind.VISITOR, pin="9753")
        _, sg = await site.badge("sr-in", STAFF, pin="2468")
        assert sg.outcome == "granted"
        _, vg = await site.badge("sr-in", VISITOR, pin="9753")
        assert vg.outcome == "granted" and vg.detail["escort"] == s
        # later, alone: the escort's badge is older than the window
        await site.wait_until(
            lambda: site.door_state("sr-door") is DoorState.LOCKED, what="relocked"
        )
        await asyncio.sleep(4.1)
        after = site.last_seq
        await site.sim.badge("sr-in", VISITOR, "9753")
        _, late = await site.wait_record(
            lambda r: r.reason == Reason.ESCORT_NOT_PRESENTED.value, after=after, within=15
        )
        assert late.person_id == v and late.outcome == "denied"
        assert not site.sim.door_view("sr-door")["strike_released"]
    finally:
        await cleanup(site)


# --- interlock, purpose, training, contract, recertification -------------------------------


async def test_interlock(make_site: Any) -> None:
    def mantrap(raw: dict[str, Any]) -> None:
        raw["interlocks"] = [{"id": "trap", "doors": ["sr-door", "vault-door"]}]

    site = await make_site(patch=mantrap)
    try:
        await site.add_person("A", STAFF, pin="2468")
        await site.sim.door("vault-door", "force")
        await site.wait_until(
            lambda: site.door_state("vault-door") is DoorState.FORCED, what="vault open"
        )
        _, denied = await site.badge("sr-in", STAFF, pin="2468")
        assert denied.reason == Reason.INTERLOCK_NOT_SATISFIED.value
        await site.sim.door("vault-door", "close")
        await site.wait_until(
            lambda: site.door_state("vault-door") is DoorState.LOCKED, what="vault shut"
        )
        _, ok = await site.badge("sr-in", STAFF, pin="2468")
        assert ok.outcome == "granted"
    finally:
        await cleanup(site)


async def test_purpose_required_work_order(make_site: Any) -> None:
    site = await make_site({"require_purpose": True})
    try:
        a = await site.add_person("A", STAFF, pin="2468", purpose=None)
        _, denied = await site.badge("sr-in", STAFF, pin="2468")
        assert denied.reason == Reason.NO_APPROVED_PURPOSE.value
        now = datetime.now(UTC)
        wo = await site.add_work_order(
            a,
            "server-room",
            "replace failed disk, rack 4",
            valid_from=now - timedelta(minutes=5),
            valid_to=now + timedelta(hours=1),
        )
        _, ok = await site.badge("sr-in", STAFF, pin="2468")
        assert ok.outcome == "granted"
        assert (
            ok.detail["purpose"] == "replace failed disk, rack 4"
            and ok.detail["work_order_id"] == wo
        )
    finally:
        await cleanup(site)


async def test_training_contract_and_recertification(make_site: Any) -> None:
    site = await make_site({"require_training": "pi-handling", "recertify_days": 90})
    try:
        a = await site.add_person("A", STAFF, pin="2468")
        _, t = await site.badge("sr-in", STAFF, pin="2468")
        assert t.reason == Reason.TRAINING_EXPIRED.value
        await site.add_training(a, "pi-handling", datetime.now(UTC) + timedelta(days=365))
        _, ok = await site.badge("sr-in", STAFF, pin="2468")
        assert ok.outcome == "granted"
        old = datetime.now(UTC) - timedelta(days=91)
        b = await site.add_person("B", STAFF2, pin="1357", granted_at=old)
        await site.add_training(b, "pi-handling")
        _, lapsed = await site.badge("sr-in", STAFF2, pin="1357")
        assert lapsed.reason == Reason.AUTHORIZATION_NOT_RECERTIFIED.value
        c = await site.add_person(
            "C",
            "H10304:4000:123456",
            kind=PersonKind.CONTRACTOR,
            pin="8642",
            contract_end=datetime.now(UTC) - timedelta(days=1),
        )
        await site.add_training(c, "pi-handling")
        _, ended = await site.badge("sr-in", "H10304:4000:123456", pin="8642")
        assert ended.reason == Reason.CONTRACT_EXPIRED.value
    finally:
        await cleanup(site)


# --- door modes, lockdown, duress, first-person-in, lone occupant -------------------------


async def test_door_modes_and_lockdown(make_site: Any) -> None:
    site = await make_site()
    try:
        await site.add_person("A", STAFF, pin="2468")
        await site.gateway.set_door_mode("sr-door", DoorMode.LOCKED, "operator", "maintenance")
        _, locked = await site.badge("sr-in", STAFF, pin="2468")
        assert locked.reason == Reason.DOOR_LOCKED.value
        await site.gateway.set_door_mode("sr-door", DoorMode.UNLOCKED, "operator", "move-in day")
        await site.wait_until(
            lambda: site.sim.door_view("sr-door")["strike_released"], what="held free"
        )
        after = site.last_seq
        await site.sim.door("sr-door", "open")
        _, opened = await site.wait_record(lambda r: r.kind is RecordKind.DOOR_OPENED, after=after)
        assert opened.detail["by"] == "unlocked"
        await site.gateway.set_door_mode("sr-door", DoorMode.ACCESS, "operator", None)
        await site.wait_until(
            lambda: site.door_state("sr-door") is DoorState.LOCKED, within=10, what="locked"
        )
        # lockdown from the desk
        seq = await site.gateway.lockdown("server-room", "chief", "intrusion suspected")
        rec = next(r for s, r in site.written if s == seq)
        assert rec.kind is RecordKind.ZONE_LOCKDOWN and rec.actor == "chief"
        assert (
            next(d for d in site.gateway.doors() if d.door_id == "sr-door").mode
            is DoorMode.LOCKED_DOWN
        )
        _, down = await site.badge("sr-in", STAFF, pin="2468")
        assert down.reason == Reason.DOOR_LOCKED_DOWN.value
        _, leave = await site.badge("sr-out", STAFF)
        assert leave.outcome == "granted"  # nobody is trapped inside
        await site.gateway.release_lockdown("server-room", "chief", "all clear")
        _, ok = await site.badge("sr-in", STAFF, pin="2468")
        assert ok.outcome == "granted"
    finally:
        await cleanup(site)


async def test_lockdown_survives_a_restart(make_site: Any, tmp_path: Path) -> None:
    site = await make_site()
    await site.gateway.lockdown("server-room", "operator", "drill")
    await stop_harness(site)
    again = await start_harness(site.data_dir)
    try:
        assert (
            next(d for d in again.gateway.doors() if d.door_id == "sr-door").mode
            is DoorMode.LOCKED_DOWN
        )
    finally:
        await stop_harness(again)


async def test_double_lock_refused_while_occupied(make_site: Any) -> None:
    site = await make_site()
    try:
        await site.add_person("A", STAFF, pin="2468")
        await site.badge("sr-in", STAFF, pin="2468")
        await through(site)
        await site.wait_until(lambda: site.inside("server-room") != [], what="inside")
        with pytest.raises(ModeRefused, match="occupied"):
            await site.gateway.set_door_mode("sr-door", DoorMode.DOUBLE_LOCKED, "operator", None)
    finally:
        await cleanup(site)


async def test_duress_pin_grants_and_raises_a_silent_alarm(make_site: Any) -> None:
    site = await make_site()
    try:
        a = await site.add_person("A", STAFF, pin="2468", duress_pin="2469")
        seq, rec = await site.badge("sr-in", STAFF, pin="2469")
        assert rec.outcome == "granted"
        _, duress = await site.wait_record(
            lambda r: r.kind is RecordKind.ACCESS_DURESS, after=seq - 1
        )
        assert duress.person_id == a and duress.detail["decision_seq"] == seq
        await site.wait_until(
            lambda: any(f["color"] == "green" for f in site.sim.feedback("sr-in")), what="green"
        )
    finally:
        await cleanup(site)


async def test_first_person_in(make_site: Any) -> None:
    def schedule(raw: dict[str, Any]) -> None:
        for d in raw["doors"]:
            if d["id"] == "sr-door":
                d.update({"unlock_schedule": "always", "first_person_in": True, "auth": "card"})

    site = await make_site({"escort": {"required": False}}, patch=schedule)
    try:
        await site.add_person("Worker", STAFF2)
        await site.add_person("Supervisor", STAFF, supervisor=True)
        door = next(d for d in site.gateway.doors() if d.door_id == "sr-door")
        assert door.mode is DoorMode.ACCESS  # waits for a supervisor
        await site.badge("sr-in", STAFF2)
        assert (
            next(d for d in site.gateway.doors() if d.door_id == "sr-door").mode is DoorMode.ACCESS
        )
        await site.badge("sr-in", STAFF)
        await site.wait_until(
            lambda: (
                next(d for d in site.gateway.doors() if d.door_id == "sr-door").mode
                is DoorMode.UNLOCKED
            ),
            what="unlocked after the supervisor",
        )
        await site.wait_record(
            lambda r: r.kind is RecordKind.DOOR_MODE and r.detail.get("mode") == "unlocked"
        )
    finally:
        await cleanup(site)


async def test_lone_occupant_alarm(make_site: Any) -> None:
    site = await make_site({"lone_occupant_alarm_s": 1})
    try:
        a = await site.add_person("A", STAFF, pin="2468")
        b = await site.add_person("B", STAFF2, pin="1357")
        await site.badge("sr-in", STAFF, pin="2468")
        await through(site)
        _, lone = await site.wait_record(lambda r: r.kind is RecordKind.ZONE_LONE_OCCUPANT)
        assert lone.person_id == a
        await site.wait_until(
            lambda: site.door_state("sr-door") is DoorState.LOCKED, what="relocked"
        )
        await site.badge("sr-in", STAFF2, pin="1357")
        await through(site)
        _, cleared = await site.wait_record(
            lambda r: r.kind is RecordKind.ZONE_LONE_OCCUPANT_CLEARED
        )
        assert cleared.person_id == a and b in site.inside("server-room")
    finally:
        await cleanup(site)


def _unused(_: NewRecord) -> None:
    """Keep the import for type checkers."""
