"""The pure decision engine: every denial reason and every server-room rule (4-8-7(1)(2)(3),
4-8-3, 4-8-9)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config.site import ALWAYS, AntiPassback, Schedule
from gateway.decision import (
    AccessPoint,
    AuthorizationEntry,
    Companion,
    CredentialEntry,
    Decision,
    NeedPin,
    PinCheck,
    PinLockout,
    Presence,
    TrainingEntry,
    WorkOrderEntry,
    ZoneRules,
    decide,
)
from gateway.domain import (
    AuthMode,
    CredentialStatus,
    Direction,
    DoorMode,
    Outcome,
    PersonKind,
    Reason,
)
from gateway.schedule import CompiledSchedule, SiteCalendar

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # Tuesday 12:00 in Tokyo
CAL = SiteCalendar.of("Asia/Tokyo", [])
ALWAYS_C = CompiledSchedule.compile(ALWAYS)
NIGHTS = CompiledSchedule.compile(Schedule(id="nights", week={"tue": ["22:00-24:00"]}))

AUTH = AuthorizationEntry("a1", "server-room", ALWAYS_C, None, None, "maintenance")
ENTRY = CredentialEntry(
    credential_id="c1",
    card_key="H10301:12:1001",
    masked="H10301:…001",
    person_id="p1",
    person_name="Sato",
    person_kind=PersonKind.STAFF,
    person_enabled=True,
    status=CredentialStatus.ENABLED,
    valid_from=None,
    valid_to=None,
    pin_hash="$argon2id$stub",
    authorizations=(AUTH,),
)
ROOM = ZoneRules("server-room")
IN = AccessPoint("sr-door", ROOM, Direction.IN, AuthMode.CARD)
OUT = replace(IN, direction=Direction.OUT)
PIN_DOOR = replace(IN, auth=AuthMode.CARD_AND_PIN)


def reason(result: Decision | NeedPin) -> Reason:
    assert isinstance(result, Decision)
    return result.reason


def at(
    point: AccessPoint, entry: CredentialEntry | None = ENTRY, **kw: object
) -> Decision | NeedPin:
    return decide(point, entry, now=NOW, calendar=CAL, **kw)  # type: ignore[arg-type]


def test_grant_names_the_authorization_and_purpose() -> None:
    result = at(IN)
    assert isinstance(result, Decision)
    assert (result.outcome, result.authorization, result.purpose) == (
        Outcome.GRANTED,
        AUTH,
        "maintenance",
    )
    assert result.companion is None


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (None, Reason.CREDENTIAL_NOT_FOUND),
        (replace(ENTRY, status=CredentialStatus.DISABLED), Reason.CREDENTIAL_NOT_ENABLED),
        (replace(ENTRY, status=CredentialStatus.LOST), Reason.CREDENTIAL_NOT_ENABLED),
        (replace(ENTRY, status=CredentialStatus.STOLEN), Reason.CREDENTIAL_NOT_ENABLED),
        (replace(ENTRY, valid_from=NOW + timedelta(seconds=1)), Reason.CREDENTIAL_NOT_ACTIVE),
        (replace(ENTRY, valid_to=NOW), Reason.CREDENTIAL_EXPIRED),
        (replace(ENTRY, person_enabled=False), Reason.PERSON_NOT_ENABLED),
        (replace(ENTRY, authorizations=()), Reason.UNAUTHORIZED),
        (replace(ENTRY, authorizations=(replace(AUTH, zone_id="vault"),)), Reason.UNAUTHORIZED),
        (replace(ENTRY, authorizations=(replace(AUTH, valid_to=NOW),)), Reason.UNAUTHORIZED),
        (
            replace(ENTRY, authorizations=(replace(AUTH, valid_from=NOW + timedelta(days=1)),)),
            Reason.UNAUTHORIZED,
        ),
        (
            replace(ENTRY, authorizations=(replace(AUTH, schedule=NIGHTS),)),
            Reason.NOT_PERMITTED_AT_THIS_TIME,
        ),
        (replace(ENTRY, person_kind=PersonKind.CONTRACTOR), Reason.CONTRACT_EXPIRED),
        (
            replace(ENTRY, person_kind=PersonKind.CONTRACTOR, contract_end=NOW),
            Reason.CONTRACT_EXPIRED,
        ),
    ],
)
def test_each_denial_reason(entry: CredentialEntry | None, expected: Reason) -> None:
    assert reason(at(IN, entry)) is expected


def test_a_second_authorization_can_admit_when_the_first_schedule_does_not() -> None:
    other = replace(AUTH, authorization_id="a2", schedule=ALWAYS_C)
    result = at(IN, replace(ENTRY, authorizations=(replace(AUTH, schedule=NIGHTS), other)))
    assert isinstance(result, Decision)
    assert result.granted and result.authorization == other


def test_a_contractor_with_a_running_contract_is_admitted_with_an_escort() -> None:
    contractor = replace(
        ENTRY, person_kind=PersonKind.CONTRACTOR, contract_end=NOW + timedelta(days=3)
    )
    result = at(IN, contractor)
    assert isinstance(result, Decision)
    assert result.granted and result.companion is Companion.ESCORT
    alone = at(replace(IN, zone=replace(ROOM, contractors_escorted=False)), contractor)
    assert isinstance(alone, Decision) and alone.companion is None


def test_visitors_need_an_escort_unless_the_zone_says_otherwise() -> None:
    visitor = replace(ENTRY, person_kind=PersonKind.VISITOR)
    result = at(IN, visitor)
    assert isinstance(result, Decision) and result.companion is Companion.ESCORT
    free = at(replace(IN, zone=replace(ROOM, escort_required=False)), visitor)
    assert isinstance(free, Decision) and free.companion is None


def test_two_person_zone_asks_for_a_second_person() -> None:
    result = at(replace(IN, zone=replace(ROOM, two_person=True)))
    assert isinstance(result, Decision) and result.companion is Companion.SECOND_PERSON


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (DoorMode.LOCKED, Reason.DOOR_LOCKED),
        (DoorMode.DOUBLE_LOCKED, Reason.DOOR_LOCKED),
        (DoorMode.BLOCKED, Reason.DOOR_BLOCKED),
        (DoorMode.LOCKED_DOWN, Reason.DOOR_LOCKED_DOWN),
    ],
)
def test_door_modes_refuse_entry_but_never_exit(mode: DoorMode, expected: Reason) -> None:
    assert reason(at(replace(IN, mode=mode))) is expected
    out = at(replace(OUT, mode=mode))
    assert isinstance(out, Decision) and out.granted


@pytest.mark.parametrize("mode", [DoorMode.ACCESS, DoorMode.UNLOCKED, DoorMode.LOCKED_OPEN])
def test_open_modes_still_decide_and_record(mode: DoorMode) -> None:
    assert at(replace(IN, mode=mode)) == at(IN)
    assert reason(at(replace(IN, mode=mode), None)) is Reason.CREDENTIAL_NOT_FOUND


def test_recertification_lapse() -> None:
    zone = replace(ROOM, recertify_days=90)
    fresh = replace(AUTH, certified_at=NOW - timedelta(days=89))
    stale = replace(AUTH, certified_at=NOW - timedelta(days=90))
    assert isinstance(at(replace(IN, zone=zone), replace(ENTRY, authorizations=(fresh,))), Decision)
    assert reason(at(replace(IN, zone=zone), replace(ENTRY, authorizations=(stale,)))) is (
        Reason.AUTHORIZATION_NOT_RECERTIFIED
    )
    # without a recertification period nothing lapses
    assert reason(at(IN, replace(ENTRY, authorizations=(stale,)))) is Reason.GRANTED


def test_training_must_be_current() -> None:
    zone = replace(ROOM, require_training="pi-handling")
    point = replace(IN, zone=zone)
    assert reason(at(point)) is Reason.TRAINING_EXPIRED
    expired = TrainingEntry("pi-handling", NOW - timedelta(days=1))
    current = TrainingEntry("pi-handling", NOW + timedelta(days=1))
    other = TrainingEntry("fire-drill", None)
    assert reason(at(point, replace(ENTRY, trainings=(expired, other)))) is Reason.TRAINING_EXPIRED
    assert reason(at(point, replace(ENTRY, trainings=(current,)))) is Reason.GRANTED
    assert (
        reason(at(point, replace(ENTRY, trainings=(TrainingEntry("pi-handling", None),))))
        is Reason.GRANTED
    )


def test_purpose_from_the_authorization_or_an_approved_work_order() -> None:
    point = replace(IN, zone=replace(ROOM, require_purpose=True))
    assert reason(at(point)) is Reason.GRANTED  # the standing authorization has a purpose
    no_purpose = replace(ENTRY, authorizations=(replace(AUTH, purpose=None),))
    assert reason(at(point, no_purpose)) is Reason.NO_APPROVED_PURPOSE
    order = WorkOrderEntry(
        "w1",
        "server-room",
        "replace disk in rack 4",
        NOW - timedelta(hours=1),
        NOW + timedelta(hours=1),
    )
    late = replace(order, valid_to=NOW)
    elsewhere = replace(order, zone_id="vault")
    assert (
        reason(at(point, replace(no_purpose, work_orders=(late, elsewhere))))
        is Reason.NO_APPROVED_PURPOSE
    )
    result = at(point, replace(no_purpose, work_orders=(order,)))
    assert isinstance(result, Decision)
    assert (result.purpose, result.work_order_id) == ("replace disk in rack 4", "w1")


@pytest.mark.parametrize(
    ("mode", "presence", "expected", "violations"),
    [
        (AntiPassback.HARD, Presence(inside=True), Reason.ANTIPASSBACK_VIOLATION, ()),
        (AntiPassback.HARD, Presence(inside=False), Reason.GRANTED, ()),
        (
            AntiPassback.SOFT,
            Presence(inside=True),
            Reason.GRANTED,
            (Reason.ANTIPASSBACK_VIOLATION,),
        ),
        (
            AntiPassback.TIMED,
            Presence(last_in=NOW - timedelta(seconds=299)),
            Reason.ANTIPASSBACK_VIOLATION,
            (),
        ),
        (AntiPassback.TIMED, Presence(last_in=NOW - timedelta(seconds=300)), Reason.GRANTED, ()),
        (AntiPassback.OFF, Presence(inside=True), Reason.GRANTED, ()),
    ],
)
def test_anti_passback_on_entry(
    mode: AntiPassback, presence: Presence, expected: Reason, violations: tuple[Reason, ...]
) -> None:
    result = at(replace(IN, zone=replace(ROOM, anti_passback=mode)), presence=presence)
    assert isinstance(result, Decision)
    assert (result.reason, result.violations) == (expected, violations)


def test_exit_is_never_refused_for_passback_but_the_violation_is_noted() -> None:
    point = replace(OUT, zone=replace(ROOM, anti_passback=AntiPassback.HARD))
    result = at(point, presence=Presence(inside=False))
    assert isinstance(result, Decision)
    assert result.granted and result.violations == (Reason.ANTIPASSBACK_VIOLATION,)


def test_exit_needs_no_authorization_or_schedule_but_a_valid_credential() -> None:
    assert at(OUT, replace(ENTRY, authorizations=())) == Decision(Outcome.GRANTED, Reason.GRANTED)
    assert (
        reason(at(OUT, replace(ENTRY, status=CredentialStatus.LOST)))
        is Reason.CREDENTIAL_NOT_ENABLED
    )


def test_door_fault_and_interlock() -> None:
    assert reason(at(replace(IN, available=False))) is Reason.DOOR_FAULT
    assert reason(at(replace(IN, available=False), None)) is Reason.CREDENTIAL_NOT_FOUND
    assert reason(at(replace(IN, interlock_clear=False))) is Reason.INTERLOCK_NOT_SATISFIED
    assert reason(at(replace(OUT, interlock_clear=False))) is Reason.INTERLOCK_NOT_SATISFIED


def test_card_and_pin_asks_for_the_pin_then_decides() -> None:
    assert isinstance(at(PIN_DOOR), NeedPin)
    assert reason(at(PIN_DOOR, pin=PinCheck.CORRECT)) is Reason.GRANTED
    assert reason(at(PIN_DOOR, pin=PinCheck.WRONG)) is Reason.INVALID_PIN
    assert reason(at(PIN_DOOR, pin=PinCheck.NOT_ENTERED)) is Reason.PIN_NOT_ENTERED
    duress = at(PIN_DOOR, pin=PinCheck.DURESS)
    assert isinstance(duress, Decision) and duress.granted and duress.duress


def test_card_and_pin_without_a_stored_pin_never_grants() -> None:
    assert (
        reason(at(PIN_DOOR, replace(ENTRY, pin_hash=None), pin=PinCheck.CORRECT))
        is Reason.INVALID_PIN
    )


def test_lockout_denies_before_asking_for_a_pin() -> None:
    assert reason(at(PIN_DOOR, locked_out=True)) is Reason.CREDENTIAL_LOCKED_OUT


def test_pin_lockout_counts_and_expires() -> None:
    state = PinLockout()
    for _ in range(2):
        state = state.after(PinCheck.WRONG, NOW, max_failures=3, lockout_s=300)
        assert not state.locked(NOW)
    state = state.after(PinCheck.WRONG, NOW, max_failures=3, lockout_s=300)
    assert state.locked(NOW + timedelta(seconds=299))
    assert not state.locked(NOW + timedelta(seconds=300))
    later = NOW + timedelta(seconds=301)
    state = state.after(PinCheck.WRONG, later, max_failures=3, lockout_s=300)
    assert state.failures == 1 and not state.locked(later)
    assert state.after(PinCheck.DURESS, later, max_failures=3, lockout_s=300) == PinLockout()


dates = st.none() | st.datetimes(timezones=st.just(UTC))
entries = st.builds(
    replace,
    st.just(ENTRY),
    status=st.sampled_from(list(CredentialStatus)),
    person_enabled=st.booleans(),
    person_kind=st.sampled_from(list(PersonKind)),
    valid_from=dates,
    valid_to=dates,
    contract_end=dates,
    pin_hash=st.none() | st.just("$argon2id$stub"),
    trainings=st.lists(
        st.builds(TrainingEntry, st.sampled_from(["pi", "x"]), dates), max_size=2
    ).map(tuple),
    authorizations=st.lists(
        st.builds(
            replace,
            st.just(AUTH),
            zone_id=st.sampled_from(["server-room", "vault"]),
            schedule=st.sampled_from([ALWAYS_C, NIGHTS]),
            valid_from=dates,
            valid_to=dates,
            purpose=st.none() | st.just("p"),
            certified_at=dates,
        ),
        max_size=3,
    ).map(tuple),
)
zones = st.builds(
    ZoneRules,
    zone_id=st.just("server-room"),
    anti_passback=st.sampled_from(list(AntiPassback)),
    require_purpose=st.booleans(),
    require_training=st.none() | st.just("pi"),
    recertify_days=st.none() | st.integers(1, 400),
    escort_required=st.booleans(),
    contractors_escorted=st.booleans(),
    two_person=st.booleans(),
)
points = st.builds(
    AccessPoint,
    door_id=st.just("sr-door"),
    zone=zones,
    direction=st.sampled_from(list(Direction)),
    auth=st.sampled_from(list(AuthMode)),
    available=st.booleans(),
    mode=st.sampled_from(list(DoorMode)),
    interlock_clear=st.booleans(),
)
presences = st.builds(Presence, inside=st.booleans(), last_in=dates)


@given(
    point=points,
    entry=st.none() | entries,
    when=st.datetimes(timezones=st.just(UTC)),
    pin=st.sampled_from(list(PinCheck)),
    locked=st.booleans(),
    presence=presences,
)
def test_a_grant_always_satisfies_every_rule(
    point: AccessPoint,
    entry: CredentialEntry | None,
    when: datetime,
    pin: PinCheck,
    locked: bool,
    presence: Presence,
) -> None:
    result = decide(
        point, entry, now=when, calendar=CAL, pin=pin, locked_out=locked, presence=presence
    )
    if not isinstance(result, Decision) or not result.granted:
        return
    assert entry is not None
    assert entry.status is CredentialStatus.ENABLED and entry.person_enabled
    assert entry.valid_from is None or entry.valid_from <= when
    assert entry.valid_to is None or when < entry.valid_to
    assert point.available and point.interlock_clear
    if point.auth is AuthMode.CARD_AND_PIN:
        assert (
            pin in (PinCheck.CORRECT, PinCheck.DURESS) and entry.pin_hash is not None and not locked
        )
    if point.direction is Direction.IN:
        zone = point.zone
        assert point.mode not in (
            DoorMode.LOCKED,
            DoorMode.BLOCKED,
            DoorMode.LOCKED_DOWN,
            DoorMode.DOUBLE_LOCKED,
        )
        a = result.authorization
        assert a is not None and a.zone_id == point.zone_id and CAL.admits(a.schedule, when)
        assert (a.valid_from is None or a.valid_from <= when) and (
            a.valid_to is None or when < a.valid_to
        )
        if zone.recertify_days is not None and a.certified_at is not None:
            assert when < a.certified_at + timedelta(days=zone.recertify_days)
        if zone.require_purpose:
            assert result.purpose
        if zone.require_training:
            assert any(
                t.course == zone.require_training
                and (t.valid_until is None or when < t.valid_until)
                for t in entry.trainings
            )
        if entry.person_kind is PersonKind.CONTRACTOR:
            assert entry.contract_end is not None and when < entry.contract_end
        if zone.anti_passback is AntiPassback.HARD:
            assert not presence.inside
        # an outsider who needs an escort, or a two-person zone, never opens on one badge alone
        if zone.needs_escort(entry.person_kind):
            assert result.companion is Companion.ESCORT
        elif zone.two_person:
            assert result.companion is Companion.SECOND_PERSON
        else:
            assert result.companion is None
    else:
        assert result.companion is None


@given(point=points, entry=entries, when=st.datetimes(timezones=st.just(UTC)))
def test_need_pin_only_at_pin_doors(
    point: AccessPoint, entry: CredentialEntry, when: datetime
) -> None:
    result = decide(point, entry, now=when, calendar=CAL)
    if isinstance(result, NeedPin):
        assert point.auth is AuthMode.CARD_AND_PIN
