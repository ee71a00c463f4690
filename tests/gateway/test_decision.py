"""The pure decision engine: every denial reason, card+PIN, lock-out (4-8-7(1), 4-8-7(3))."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config.site import ALWAYS, Schedule
from gateway.decision import (
    AccessPoint,
    AuthorizationEntry,
    CredentialEntry,
    Decision,
    NeedPin,
    PinCheck,
    PinLockout,
    decide,
)
from gateway.domain import AuthMode, CredentialStatus, Direction, Outcome, PersonKind, Reason
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
IN = AccessPoint("sr-door", "server-room", Direction.IN, AuthMode.CARD, available=True)
OUT = replace(IN, direction=Direction.OUT)
PIN_DOOR = replace(IN, auth=AuthMode.CARD_AND_PIN)


def reason(result: Decision | NeedPin) -> Reason:
    assert isinstance(result, Decision)
    return result.reason


def test_grant_names_the_authorization_that_admitted() -> None:
    result = decide(IN, ENTRY, now=NOW, calendar=CAL)
    assert isinstance(result, Decision)
    assert result.outcome is Outcome.GRANTED
    assert result.authorization == AUTH


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
    ],
)
def test_each_denial_reason(entry: CredentialEntry | None, expected: Reason) -> None:
    assert reason(decide(IN, entry, now=NOW, calendar=CAL)) is expected


def test_a_second_authorization_can_admit_when_the_first_schedule_does_not() -> None:
    other = replace(AUTH, authorization_id="a2", schedule=ALWAYS_C)
    entry = replace(ENTRY, authorizations=(replace(AUTH, schedule=NIGHTS), other))
    result = decide(IN, entry, now=NOW, calendar=CAL)
    assert isinstance(result, Decision)
    assert result.granted
    assert result.authorization == other


def test_exit_needs_no_authorization_or_schedule_but_a_valid_credential() -> None:
    no_auth = replace(ENTRY, authorizations=())
    assert decide(OUT, no_auth, now=NOW, calendar=CAL) == Decision(Outcome.GRANTED, Reason.GRANTED)
    assert reason(
        decide(OUT, replace(ENTRY, status=CredentialStatus.LOST), now=NOW, calendar=CAL)
    ) is (Reason.CREDENTIAL_NOT_ENABLED)


def test_door_fault_denies_after_identity_checks() -> None:
    down = replace(IN, available=False)
    assert reason(decide(down, ENTRY, now=NOW, calendar=CAL)) is Reason.DOOR_FAULT
    assert reason(decide(down, None, now=NOW, calendar=CAL)) is Reason.CREDENTIAL_NOT_FOUND


def test_card_and_pin_asks_for_the_pin_then_decides() -> None:
    assert isinstance(decide(PIN_DOOR, ENTRY, now=NOW, calendar=CAL), NeedPin)
    granted = decide(PIN_DOOR, ENTRY, now=NOW, calendar=CAL, pin=PinCheck.CORRECT)
    assert isinstance(granted, Decision)
    assert granted.granted
    assert (
        reason(decide(PIN_DOOR, ENTRY, now=NOW, calendar=CAL, pin=PinCheck.WRONG))
        is Reason.INVALID_PIN
    )
    assert reason(decide(PIN_DOOR, ENTRY, now=NOW, calendar=CAL, pin=PinCheck.NOT_ENTERED)) is (
        Reason.PIN_NOT_ENTERED
    )


def test_card_and_pin_without_a_stored_pin_never_grants() -> None:
    no_pin = replace(ENTRY, pin_hash=None)
    assert (
        reason(decide(PIN_DOOR, no_pin, now=NOW, calendar=CAL, pin=PinCheck.CORRECT))
        is Reason.INVALID_PIN
    )


def test_lockout_denies_before_asking_for_a_pin() -> None:
    result = decide(PIN_DOOR, ENTRY, now=NOW, calendar=CAL, locked_out=True)
    assert reason(result) is Reason.CREDENTIAL_LOCKED_OUT


def test_pin_lockout_counts_and_expires() -> None:
    state = PinLockout()
    for _ in range(2):
        state = state.after(PinCheck.WRONG, NOW, max_failures=3, lockout_s=300)
        assert not state.locked(NOW)
    state = state.after(PinCheck.WRONG, NOW, max_failures=3, lockout_s=300)
    assert state.locked(NOW + timedelta(seconds=299))
    assert not state.locked(NOW + timedelta(seconds=300))
    # After the lock-out has run out, a wrong PIN starts a new count rather than relocking.
    later = NOW + timedelta(seconds=301)
    state = state.after(PinCheck.WRONG, later, max_failures=3, lockout_s=300)
    assert state.failures == 1
    assert not state.locked(later)
    assert state.after(PinCheck.CORRECT, later, max_failures=3, lockout_s=300) == PinLockout()


entries = st.builds(
    replace,
    st.just(ENTRY),
    status=st.sampled_from(list(CredentialStatus)),
    person_enabled=st.booleans(),
    person_kind=st.sampled_from(list(PersonKind)),
    valid_from=st.none() | st.datetimes(timezones=st.just(UTC)),
    valid_to=st.none() | st.datetimes(timezones=st.just(UTC)),
    pin_hash=st.none() | st.just("$argon2id$stub"),
    authorizations=st.lists(
        st.builds(
            replace,
            st.just(AUTH),
            zone_id=st.sampled_from(["server-room", "vault"]),
            schedule=st.sampled_from([ALWAYS_C, NIGHTS]),
            valid_from=st.none() | st.datetimes(timezones=st.just(UTC)),
            valid_to=st.none() | st.datetimes(timezones=st.just(UTC)),
        ),
        max_size=3,
    ).map(tuple),
)
points = st.builds(
    AccessPoint,
    door_id=st.just("sr-door"),
    zone_id=st.just("server-room"),
    direction=st.sampled_from(list(Direction)),
    auth=st.sampled_from(list(AuthMode)),
    available=st.booleans(),
)


@given(
    point=points,
    entry=st.none() | entries,
    when=st.datetimes(timezones=st.just(UTC)),
    pin=st.sampled_from(list(PinCheck)),
    locked=st.booleans(),
)
def test_a_grant_always_satisfies_every_rule(
    point: AccessPoint, entry: CredentialEntry | None, when: datetime, pin: PinCheck, locked: bool
) -> None:
    result = decide(point, entry, now=when, calendar=CAL, pin=pin, locked_out=locked)
    if not isinstance(result, Decision) or not result.granted:
        return
    assert entry is not None
    assert entry.status is CredentialStatus.ENABLED and entry.person_enabled
    assert entry.valid_from is None or entry.valid_from <= when
    assert entry.valid_to is None or when < entry.valid_to
    assert point.available
    if point.auth is AuthMode.CARD_AND_PIN:
        assert pin is PinCheck.CORRECT and entry.pin_hash is not None and not locked
    if point.direction is Direction.IN:
        a = result.authorization
        assert a is not None and a.zone_id == point.zone_id
        assert CAL.admits(a.schedule, when)
        assert (a.valid_from is None or a.valid_from <= when) and (
            a.valid_to is None or when < a.valid_to
        )


@given(point=points, entry=entries, when=st.datetimes(timezones=st.just(UTC)))
def test_need_pin_only_at_pin_doors(
    point: AccessPoint, entry: CredentialEntry, when: datetime
) -> None:
    result = decide(point, entry, now=when, calendar=CAL)
    if isinstance(result, NeedPin):
        assert point.auth is AuthMode.CARD_AND_PIN
