"""The access decision as a pure function: what is known about a badge in, grant or deny out.

Clauses: 4-8-7(1) (who may enter, on which schedule, within which validity), 4-8-7(3) (card and
PIN, attempt limits with lock-out). Nothing here does I/O or reads a clock: the caller passes
``now``, so every rule can be tested with any instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from gateway.domain import AuthMode, CredentialStatus, Direction, Outcome, PersonKind, Reason
from gateway.schedule import CompiledSchedule, SiteCalendar


@dataclass(frozen=True, slots=True)
class AuthorizationEntry:
    """One authorization of the holder, as the decision needs it."""

    authorization_id: str
    zone_id: str
    schedule: CompiledSchedule
    valid_from: datetime | None
    valid_to: datetime | None
    purpose: str | None


@dataclass(frozen=True, slots=True)
class CredentialEntry:
    """A credential joined with its holder and the holder's authorizations."""

    credential_id: str
    card_key: str
    masked: str
    person_id: str
    person_name: str
    person_kind: PersonKind
    person_enabled: bool
    status: CredentialStatus
    valid_from: datetime | None
    valid_to: datetime | None
    pin_hash: str | None
    authorizations: tuple[AuthorizationEntry, ...]


@dataclass(frozen=True, slots=True)
class AccessPoint:
    """Where the badge was presented: a door, its zone, the direction and the door's mode."""

    door_id: str
    zone_id: str
    direction: Direction
    auth: AuthMode
    available: bool  # False while the door's lock cannot be driven


class PinCheck(StrEnum):
    """What is known about the PIN when the decision is asked."""

    NOT_ASKED = "not_asked"  # no PIN collected yet
    CORRECT = "correct"  # entered and matched the stored hash
    WRONG = "wrong"  # entered and did not match
    NOT_ENTERED = "not_entered"  # asked for, but none came before the timeout


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome with its reason; ``authorization`` is the one that admitted the person."""

    outcome: Outcome
    reason: Reason
    authorization: AuthorizationEntry | None = None

    @property
    def granted(self) -> bool:
        """True for a grant."""
        return self.outcome is Outcome.GRANTED


@dataclass(frozen=True, slots=True)
class NeedPin:
    """Every check but the PIN passed: collect a PIN and decide again."""

    authorization: AuthorizationEntry | None


def deny(reason: Reason) -> Decision:
    """A denial with ``reason``."""
    return Decision(Outcome.DENIED, reason)


def decide(  # noqa: PLR0911, PLR0912 -- one early return per denial reason reads as the rule list
    point: AccessPoint,
    entry: CredentialEntry | None,
    *,
    now: datetime,
    calendar: SiteCalendar,
    pin: PinCheck = PinCheck.NOT_ASKED,
    locked_out: bool = False,
) -> Decision | NeedPin:
    """Decide one badge. ``locked_out`` says the credential's PIN lock-out is in force now."""
    if entry is None:
        return deny(Reason.CREDENTIAL_NOT_FOUND)
    if entry.status is not CredentialStatus.ENABLED:
        return deny(Reason.CREDENTIAL_NOT_ENABLED)
    if entry.valid_from is not None and now < entry.valid_from:
        return deny(Reason.CREDENTIAL_NOT_ACTIVE)
    if entry.valid_to is not None and now >= entry.valid_to:
        return deny(Reason.CREDENTIAL_EXPIRED)
    if not entry.person_enabled:
        return deny(Reason.PERSON_NOT_ENABLED)
    admitted: AuthorizationEntry | None = None
    if point.direction is Direction.IN:
        found = _authorization_for(entry, point.zone_id, now, calendar)
        if isinstance(found, Reason):
            return deny(found)
        admitted = found
    # Leaving is never refused for want of a schedule or authorization: nobody is trapped inside.
    if not point.available:
        return deny(Reason.DOOR_FAULT)
    if point.auth is AuthMode.CARD_AND_PIN:
        if locked_out:
            return deny(Reason.CREDENTIAL_LOCKED_OUT)
        if pin is PinCheck.NOT_ASKED:
            return NeedPin(admitted)
        if pin is PinCheck.NOT_ENTERED:
            return deny(Reason.PIN_NOT_ENTERED)
        if pin is PinCheck.WRONG or entry.pin_hash is None:
            return deny(Reason.INVALID_PIN)
    return Decision(Outcome.GRANTED, Reason.GRANTED, admitted)


def _authorization_for(
    entry: CredentialEntry, zone_id: str, now: datetime, calendar: SiteCalendar
) -> AuthorizationEntry | Reason:
    """The first authorization admitting ``now`` into the zone, or why none does."""
    valid_now = [
        a
        for a in entry.authorizations
        if a.zone_id == zone_id
        and (a.valid_from is None or a.valid_from <= now)
        and (a.valid_to is None or now < a.valid_to)
    ]
    if not valid_now:
        return Reason.UNAUTHORIZED
    for a in valid_now:
        if calendar.admits(a.schedule, now):
            return a
    return Reason.NOT_PERMITTED_AT_THIS_TIME


@dataclass(frozen=True, slots=True)
class PinLockout:
    """PIN failure counting (4-8-7(3)): after ``max_failures`` wrong PINs, locked for a while."""

    failures: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        """True while the lock-out is in force."""
        return self.locked_until is not None and now < self.locked_until

    def after(
        self, check: PinCheck, now: datetime, max_failures: int, lockout_s: float
    ) -> PinLockout:
        """The state after a PIN attempt; a correct PIN resets the count."""
        if check is PinCheck.CORRECT:
            return PinLockout()
        if check is not PinCheck.WRONG:
            return self
        failures = 0 if self.locked_until is not None and not self.locked(now) else self.failures
        failures += 1
        if failures >= max_failures:
            return PinLockout(failures, now + timedelta(seconds=lockout_s))
        return PinLockout(failures, None)
