"""The access spine end to end on firmware-sim: OSDP (Secure Channel) and RDM6300 readers over
ptys, a Modbus TCP I/O module, SQLite records (4-8-7(1)(3)(4))."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from gateway.domain import CredentialStatus, DoorState, PersonKind, Reason
from gateway.hashing import hash_secret
from gateway.records import RecordKind
from gateway.storage.models import Credential, CredentialState
from tests.integration.harness import Harness

ALICE = "H10301:12:1001"


async def test_grant_end_to_end_card_and_pin(site: Harness) -> None:
    pid = await site.add_person("Alice", ALICE, pin="2468")
    seq, rec = await site.badge("sr-in", ALICE, pin="2468")
    assert (rec.outcome, rec.reason, rec.direction) == ("granted", "Granted", "in")
    assert rec.person_id == pid and rec.person_kind == "staff"
    assert rec.credential == "H10301:…001"  # masked, never the whole number
    # the strike coil on the pymodbus server is energised
    await site.wait_until(
        lambda: site.sim.door_view("sr-door")["strike_released"], what="strike released"
    )
    await site.wait_until(
        lambda: any(f["color"] == "green" for f in site.sim.feedback("sr-in")), what="green LED"
    )
    await site.sim.door("sr-door", "open")
    _, taken = await site.wait_record(lambda r: r.kind is RecordKind.ACCESS_TAKEN, after=seq)
    assert taken.person_id == pid and taken.detail["decision_seq"] == seq
    _, closed = await site.wait_record(lambda r: r.kind is RecordKind.DOOR_CLOSED, after=seq)
    assert closed.door_id == "sr-door"
    await site.wait_until(lambda: site.door_state("sr-door") is DoorState.LOCKED, what="relocked")
    assert not site.sim.door_view("sr-door")["strike_released"]


async def test_exit_reader_needs_no_pin_and_records_out(site: Harness) -> None:
    await site.add_person("Alice", ALICE, pin="2468")
    _, rec = await site.badge("sr-out", ALICE)
    assert (rec.outcome, rec.direction) == ("granted", "out")


async def test_grant_not_taken(site: Harness) -> None:
    await site.add_person("Bob", "EM4100:10:305419896", zones=(("media-vault", "always"),))
    seq, rec = await site.badge("vault-in", "EM4100:10:305419896")
    assert rec.outcome == "granted"
    _, nt = await site.wait_record(lambda r: r.kind is RecordKind.ACCESS_NOT_TAKEN, after=seq)
    assert nt.detail["decision_seq"] == seq


async def test_every_denial_reason_is_recorded_with_red_feedback(site: Harness) -> None:
    now = datetime.now(UTC)
    await site.add_person("Lost", "H10301:12:3003", status=CredentialStatus.LOST)
    await site.add_person("Early", "H10301:12:3004", valid_from=now + timedelta(days=1))
    await site.add_person("Late", "H10301:12:3005", valid_to=now - timedelta(days=1))
    await site.add_person("Left", "H10301:12:3006", enabled=False)
    await site.add_person("Visitor", "H10301:12:3007", kind=PersonKind.VISITOR, zones=())
    await site.add_person("Vault only", "H10301:12:3008", zones=(("media-vault", "always"),))
    cases = [
        ("H10301:99:9999", Reason.CREDENTIAL_NOT_FOUND),
        ("H10301:12:3003", Reason.CREDENTIAL_NOT_ENABLED),
        ("H10301:12:3004", Reason.CREDENTIAL_NOT_ACTIVE),
        ("H10301:12:3005", Reason.CREDENTIAL_EXPIRED),
        ("H10301:12:3006", Reason.PERSON_NOT_ENABLED),
        ("H10301:12:3007", Reason.UNAUTHORIZED),
        ("H10301:12:3008", Reason.UNAUTHORIZED),
    ]

    def reds() -> int:
        return sum(f["color"] == "red" for f in site.sim.feedback("sr-in"))

    for card, reason in cases:
        before = reds()
        _, rec = await site.badge("sr-in", card)
        assert (card, rec.outcome, rec.reason) == (card, "denied", reason.value)
        assert rec.direction == "in" and rec.door_id == "sr-door"
        await site.wait_until(lambda n=before: reds() > n, what=f"red LED for {card}")  # type: ignore[misc]
    assert not any(f["color"] == "green" for f in site.sim.feedback("sr-in"))
    assert not site.sim.door_view("sr-door")["strike_released"]


async def test_not_permitted_at_this_time(site: Harness) -> None:
    await site.add_person("Wrong day", "H10301:12:4001", zones=(("server-room", "not-today"),))
    _, rec = await site.badge("sr-in", "H10301:12:4001")
    assert (rec.outcome, rec.reason) == ("denied", Reason.NOT_PERMITTED_AT_THIS_TIME.value)


async def test_unreadable_card_is_a_recorded_denial(site: Harness) -> None:
    after = site.last_seq
    bus = site.sim._osdp("sr-in")  # the OSDP bus carrying sr-in
    data, bits = bytes([0xFF, 0xFF, 0xFF, 0xC0]), 26  # all ones: parity cannot hold
    bus.card_raw("sr-in", data, bits)
    _, rec = await site.wait_record(lambda r: r.kind is RecordKind.ACCESS, after=after)
    assert rec.reason == Reason.UNREADABLE_CREDENTIAL.value and rec.outcome == "denied"
    assert rec.credential is None and "parity" in str(rec.detail.get("error", ""))


async def test_card_and_pin_wrong_pin_then_lockout(site: Harness) -> None:
    await site.add_person("Alice", ALICE, pin="2468")
    for _ in range(3):  # the demo site's pin.max_failures
        _, rec = await site.badge("sr-in", ALICE, pin="1111")
        assert rec.reason == Reason.INVALID_PIN.value
    _, rec = await site.badge("sr-in", ALICE, pin="2468")
    assert rec.reason == Reason.CREDENTIAL_LOCKED_OUT.value
    # the lock-out survives a restart: it was saved, not only kept in memory
    await site.gateway._pins.flush()
    with Session(site.engine) as s:
        state = s.exec(select(CredentialState)).one()
    assert state.pin_failures == 3 and state.locked_until is not None


async def test_pin_not_entered(site: Harness) -> None:
    await site.add_person("Alice", ALICE, pin="2468")
    after = site.last_seq
    await site.sim.badge("sr-in", ALICE)  # no PIN typed
    _, rec = await site.wait_record(lambda r: r.kind is RecordKind.ACCESS, after=after, within=15)
    assert rec.reason == Reason.PIN_NOT_ENTERED.value
    assert any(f["color"] == "amber" for f in site.sim.feedback("sr-in"))


async def test_forced_door_raises_forced_until_closed(site: Harness) -> None:
    after = site.last_seq
    await site.sim.door("vault-door", "force")
    _, rec = await site.wait_record(lambda r: r.kind is RecordKind.DOOR_FORCED, after=after)
    assert rec.door_id == "vault-door" and rec.zone_id == "media-vault"
    assert site.door_state("vault-door") is DoorState.FORCED
    _, closed = await site.wait_record(lambda r: r.kind is RecordKind.DOOR_CLOSED, after=after)
    assert closed.detail["after"] == "forced"


async def test_held_door_prealarm_then_alarm(site: Harness) -> None:
    await site.add_person("Alice", ALICE, pin="2468")
    seq, _ = await site.badge("sr-in", ALICE, pin="2468")
    await site.wait_until(lambda: site.sim.door_view("sr-door")["strike_released"], what="released")
    await site.sim.door("sr-door", "hold")
    _, pre = await site.wait_record(lambda r: r.kind is RecordKind.DOOR_HELD_PREALARM, after=seq)
    _, held = await site.wait_record(lambda r: r.kind is RecordKind.DOOR_HELD, after=seq)
    assert pre.door_id == held.door_id == "sr-door"
    assert site.door_state("sr-door") is DoorState.HELD
    after = site.last_seq
    await site.sim.door("sr-door", "close")
    await site.wait_record(lambda r: r.kind is RecordKind.DOOR_CLOSED, after=after)
    assert site.door_state("sr-door") is DoorState.LOCKED


async def test_rex_exit_is_not_forced(site: Harness) -> None:
    after = site.last_seq
    await site.sim.door("sr-door", "rex")
    await site.wait_record(lambda r: r.kind is RecordKind.DOOR_REX, after=after)
    _, opened = await site.wait_record(lambda r: r.kind is RecordKind.DOOR_OPENED, after=after)
    assert opened.detail["by"] == "rex"
    await site.wait_record(lambda r: r.kind is RecordKind.DOOR_CLOSED, after=after)
    assert not any(r.kind is RecordKind.DOOR_FORCED for s, r in site.written if s > after)


async def test_reader_link_cut_and_restored(site: Harness) -> None:
    after = site.last_seq
    await site.sim.fault("sr-out", "cut")
    _, off = await site.wait_record(
        lambda r: r.kind is RecordKind.READER_OFFLINE, after=after, within=15
    )
    assert off.reader_id == "sr-out" and off.door_id == "sr-door"
    assert not site.reader("sr-out").online
    assert site.reader("sr-in").online  # the other reader on the same bus carries on
    await site.sim.fault("sr-out", "restore")
    await site.wait_record(lambda r: r.kind is RecordKind.READER_ONLINE, after=after, within=20)
    await site.wait_until(lambda: site.reader("sr-out").secure, what="Secure Channel back")


async def test_reader_tamper_over_osdp_and_wired_input(site: Harness) -> None:
    after = site.last_seq
    await site.sim.tamper("sr-in")
    _, t1 = await site.wait_record(lambda r: r.kind is RecordKind.READER_TAMPER, after=after)
    assert t1.reader_id == "sr-in" and site.reader("sr-in").tamper
    await site.sim.tamper("vault-in")  # wired to the I/O module's input 4
    await site.wait_record(
        lambda r: r.kind is RecordKind.READER_TAMPER and r.reader_id == "vault-in", after=after
    )
    await site.sim.tamper("sr-in", False)
    await site.wait_record(lambda r: r.kind is RecordKind.READER_TAMPER_CLEARED, after=after)


async def test_module_down_faults_doors_and_denies_then_recovers_locked(site: Harness) -> None:
    await site.add_person("Alice", ALICE, pin="2468")
    after = site.last_seq
    await site.sim.fault("io1", "cut")
    await site.wait_record(lambda r: r.kind is RecordKind.MODULE_OFFLINE, after=after, within=15)
    await site.wait_until(
        lambda: all(d.state is DoorState.FAULT for d in site.gateway.doors()), what="doors in fault"
    )

    def faults() -> set[str | None]:
        return {r.door_id for s, r in site.written if s > after and r.kind is RecordKind.DOOR_FAULT}

    # the records are committed behind the state change (with the alarms they raise)
    await site.wait_until(lambda: faults() == {"sr-door", "vault-door"}, what="door.fault records")
    _, rec = await site.badge("sr-out", ALICE)
    assert rec.reason == Reason.DOOR_FAULT.value
    await site.sim.fault("io1", "restore")
    await site.wait_record(lambda r: r.kind is RecordKind.MODULE_ONLINE, after=after, within=20)
    await site.wait_until(
        lambda: all(d.state is DoorState.LOCKED for d in site.gateway.doors()),
        within=20,
        what="relocked",
    )

    def cleared() -> set[str | None]:
        return {
            r.door_id
            for s, r in site.written
            if s > after and r.kind is RecordKind.DOOR_FAULT_CLEARED
        }

    await site.wait_until(lambda: cleared() == {"sr-door", "vault-door"}, what="fault_cleared")
    assert not site.sim.door_view("sr-door")["strike_released"]  # came back fail-secure


async def test_noise_and_bad_frames_do_not_stop_the_readers(site: Harness) -> None:
    await site.add_person("Bob", "EM4100:10:305419896", zones=(("media-vault", "always"),))
    await site.add_person("Alice", ALICE, pin="2468")
    after = site.last_seq
    await site.sim.noise("vault-in")
    await site.sim.noise("bus1")
    rdm = site.sim._rdm["vault-in"]
    rdm.frame(b"\x020A1234567800\x03")  # checksum wrong
    _, bad = await site.wait_record(lambda r: r.kind is RecordKind.ACCESS, after=after)
    assert bad.reason == Reason.UNREADABLE_CREDENTIAL.value
    _, ok = await site.badge("vault-in", "EM4100:10:305419896")
    assert ok.outcome == "granted"
    _, ok2 = await site.badge("sr-out", ALICE)
    assert ok2.outcome == "granted"


async def test_a_new_pin_clears_the_lockout(site: Harness) -> None:
    pid = await site.add_person("Alice", ALICE, pin="2468")
    for _ in range(3):
        await site.badge("sr-in", ALICE, pin="1111")
    _, rec = await site.badge("sr-in", ALICE, pin="2468")
    assert rec.reason == Reason.CREDENTIAL_LOCKED_OUT.value
    with Session(site.engine) as s:
        cred = s.exec(select(Credential).where(Credential.person_id == pid)).one()
        cred.pin_hash = hash_secret("97531")
        s.add(cred)
        s.commit()
    await site.gateway.reload_person(pid)
    _, rec = await site.badge("sr-in", ALICE, pin="97531")
    assert rec.outcome == "granted"
