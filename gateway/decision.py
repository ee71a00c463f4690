"""The access decision as a pure function: what is known about a badge in, grant or deny out.

Clauses: 4-8-7(1) (who may enter, on which schedule, with which purpose; outsiders escorted),
4-8-7(3) (card and PIN, attempt limits), 4-8-3 (training), 4-8-9 (contractors' contracts),
4-8-7(2) (interlocked entrances). Nothing here does I/O or reads a clock: the caller passes
``now`` and every fact, so each rule can be tested with any instant and any state.

Leaving is never refused for a schedule, an authorization, a door mode or anti-passback:
nobody is trapped inside. Those cases are recorded as violations instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from gateway.config.site import AntiPassback
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


@dataclass(frozen=True, slots=True)
class AuthorizationEntry:
    """One authorization of the holder, as the decision needs it."""

    authorization_id: str
    zone_id: str
    schedule: CompiledSchedule
    valid_from: datetime | None
    valid_to: datetime | None
    purpose: str | None
    certified_at: datetime | None = None  # granted or last recertified (None: never lapses)
    supervisor: bool = False  # may open first-person-in doors for the day


@dataclass(frozen=True, slots=True)
class TrainingEntry:
    """A training record of the holder (4-8-3)."""

    course: str
    valid_until: datetime | None  # None: does not expire


@dataclass(frozen=True, slots=True)
class WorkOrderEntry:
    """An approved work order: a purpose for one person, zone and time window (用件)."""

    work_order_id: str
    zone_id: str
    purpose: str
    valid_from: datetime
    valid_to: datetime


@dataclass(frozen=True, slots=True)
class CredentialEntry:
    """A credential joined with its holder and everything about the holder a decision uses."""

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
    duress_pin_hash: str | None = None
    contract_end: datetime | None = None  # contractors only (4-8-9)
    trainings: tuple[TrainingEntry, ...] = ()
    work_orders: tuple[WorkOrderEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class ZoneRules:
    """The rules of the zone a door leads into (from the site file)."""

    zone_id: str
    anti_passback: AntiPassback = AntiPassback.OFF
    passback_timeout_s: float = 300.0
    require_purpose: bool = False
    require_training: str | None = None
    recertify_days: int | None = None
    escort_required: bool = True
    contractors_escorted: bool = True
    two_person: bool = False
    camera_monitored: bool = False  # outsiders may enter watched by camera instead of escorted

    def needs_escort(self, kind: PersonKind) -> bool:
        """True when a person of ``kind`` needs an escort's badge to enter."""
        if not self.escort_required or kind is PersonKind.STAFF:
            return False
        return kind is PersonKind.VISITOR or self.contractors_escorted


@dataclass(frozen=True, slots=True)
class AccessPoint:
    """Where the badge was presented and what holds there now."""

    door_id: str
    zone: ZoneRules
    direction: Direction
    auth: AuthMode
    available: bool = True  # False while the door's lock cannot be driven
    mode: DoorMode = DoorMode.ACCESS
    interlock_clear: bool = True  # every other door of its interlock is closed and locked
    camera_watching: bool = False  # a camera of the zone shows a good picture now

    @property
    def zone_id(self) -> str:
        """The zone the door leads into."""
        return self.zone.zone_id


@dataclass(frozen=True, slots=True)
class Presence:
    """Where the holder is, as far as the zone's records know (for anti-passback)."""

    inside: bool = False
    last_in: datetime | None = None


class PinCheck(StrEnum):
    """What is known about the PIN when the decision is asked."""

    NOT_ASKED = "not_asked"  # no PIN collected yet
    CORRECT = "correct"  # entered and matched the stored hash
    DURESS = "duress"  # the duress PIN: grant as usual, raise a silent alarm
    WRONG = "wrong"  # entered and did not match
    NOT_ENTERED = "not_entered"  # asked for, but none came before the timeout


class Companion(StrEnum):
    """Who else must badge at the door before it opens."""

    ESCORT = "escort"  # an authorized staff member for an outsider
    SECOND_PERSON = "second_person"  # any second authorized person (two-person rule)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome with its reason and what the record should carry."""

    outcome: Outcome
    reason: Reason
    authorization: AuthorizationEntry | None = None
    purpose: str | None = None
    work_order_id: str | None = None
    violations: tuple[Reason, ...] = ()  # recorded, not enforced (soft rules, exits)
    duress: bool = False
    companion: Companion | None = None  # set on a grant that still needs someone else
    camera_cover: bool = False  # an outsider let in without an escort, watched by camera

    @property
    def granted(self) -> bool:
        """True for a grant."""
        return self.outcome is Outcome.GRANTED


@dataclass(frozen=True, slots=True)
class NeedPin:
    """Every check but the PIN passed: collect a PIN and decide again."""

    authorization: AuthorizationEntry | None


@dataclass(frozen=True, slots=True)
class _Grant:
    """What the checks before the PIN found (carried into the final grant)."""

    authorization: AuthorizationEntry | None = None
    purpose: str | None = None
    work_order_id: str | None = None
    violations: tuple[Reason, ...] = field(default_factory=tuple)


def deny(reason: Reason, violations: tuple[Reason, ...] = ()) -> Decision:
    """A denial with ``reason``."""
    return Decision(Outcome.DENIED, reason, violations=violations)


_MODE_DENIAL = {
    DoorMode.LOCKED: Reason.DOOR_LOCKED,
    DoorMode.DOUBLE_LOCKED: Reason.DOOR_LOCKED,
    DoorMode.BLOCKED: Reason.DOOR_BLOCKED,
    DoorMode.LOCKED_DOWN: Reason.DOOR_LOCKED_DOWN,
}


def decide(  # noqa: PLR0911, PLR0912 -- one early return per denial reason reads as the rule list
    point: AccessPoint,
    entry: CredentialEntry | None,
    *,
    now: datetime,
    calendar: SiteCalendar,
    presence: Presence = Presence(),
    pin: PinCheck = PinCheck.NOT_ASKED,
    locked_out: bool = False,
) -> Decision | NeedPin:
    """Decide one badge. ``locked_out`` says the credential's PIN lock-out is in force now."""
    identity = _identity(entry, now)
    if identity is not None:
        return deny(identity)
    assert entry is not None
    if point.direction is Direction.IN:
        found = _entry_rules(point, entry, now, calendar, presence)
        if isinstance(found, Decision):
            return found
        grant = found
    else:
        grant = _Grant(violations=_exit_violations(point, presence))
    if not point.available:
        return deny(Reason.DOOR_FAULT, grant.violations)
    if not point.interlock_clear:
        return deny(Reason.INTERLOCK_NOT_SATISFIED, grant.violations)
    duress = False
    if point.auth is AuthMode.CARD_AND_PIN:
        if locked_out:
            return deny(Reason.CREDENTIAL_LOCKED_OUT, grant.violations)
        if pin is PinCheck.NOT_ASKED:
            return NeedPin(grant.authorization)
        if pin is PinCheck.NOT_ENTERED:
            return deny(Reason.PIN_NOT_ENTERED, grant.violations)
        if pin is PinCheck.WRONG or entry.pin_hash is None:
            return deny(Reason.INVALID_PIN, grant.violations)
        duress = pin is PinCheck.DURESS
    companion = None
    camera_cover = False
    if point.direction is Direction.IN:
        escort = point.zone.needs_escort(entry.person_kind)
        # 4-8-7(1): escorted by staff, or watched by surveillance while a camera can see
        camera_cover = escort and point.zone.camera_monitored and point.camera_watching
        if escort and not camera_cover:
            companion = Companion.ESCORT
        elif point.zone.two_person:
            companion = Companion.SECOND_PERSON
    return Decision(
        Outcome.GRANTED,
        Reason.GRANTED,
        grant.authorization,
        grant.purpose,
        grant.work_order_id,
        grant.violations,
        duress,
        companion,
        camera_cover,
    )


def _identity(entry: CredentialEntry | None, now: datetime) -> Reason | None:
    """Checks of the card and its holder that apply both ways."""
    if entry is None:
        return Reason.CREDENTIAL_NOT_FOUND
    if entry.status is not CredentialStatus.ENABLED:
        return Reason.CREDENTIAL_NOT_ENABLED
    if entry.valid_from is not None and now < entry.valid_from:
        return Reason.CREDENTIAL_NOT_ACTIVE
    if entry.valid_to is not None and now >= entry.valid_to:
        return Reason.CREDENTIAL_EXPIRED
    if not entry.person_enabled:
        return Reason.PERSON_NOT_ENABLED
    return None


def _entry_rules(  # noqa: PLR0911 -- one early return per denial reason reads as the rule list
    point: AccessPoint,
    entry: CredentialEntry,
    now: datetime,
    calendar: SiteCalendar,
    presence: Presence,
) -> _Grant | Decision:
    """Checks that apply to entering the door's zone, in the order a person would ask why."""
    zone = point.zone
    if entry.person_kind is PersonKind.CONTRACTOR and (
        entry.contract_end is None or now >= entry.contract_end
    ):
        return deny(Reason.CONTRACT_EXPIRED)
    if point.mode in _MODE_DENIAL:
        return deny(_MODE_DENIAL[point.mode])
    found = _authorization_for(entry, zone, now, calendar)
    if isinstance(found, Reason):
        return deny(found)
    if zone.require_training is not None and not any(
        t.course == zone.require_training and (t.valid_until is None or now < t.valid_until)
        for t in entry.trainings
    ):
        return deny(Reason.TRAINING_EXPIRED)
    purpose, work_order = found.purpose, None
    if zone.require_purpose and not purpose:
        work_order = next(
            (
                w
                for w in entry.work_orders
                if w.zone_id == zone.zone_id and w.valid_from <= now < w.valid_to
            ),
            None,
        )
        if work_order is None:
            return deny(Reason.NO_APPROVED_PURPOSE)
        purpose = work_order.purpose
    violations: tuple[Reason, ...] = ()
    if zone.anti_passback is not AntiPassback.OFF and _passback(zone, presence, now):
        if zone.anti_passback is AntiPassback.SOFT:
            violations = (Reason.ANTIPASSBACK_VIOLATION,)
        else:
            return deny(Reason.ANTIPASSBACK_VIOLATION)
    return _Grant(found, purpose, work_order.work_order_id if work_order else None, violations)


def _passback(zone: ZoneRules, presence: Presence, now: datetime) -> bool:
    """True when entering now breaks the zone's anti-passback rule."""
    if zone.anti_passback is AntiPassback.TIMED:
        return presence.last_in is not None and now < presence.last_in + timedelta(
            seconds=zone.passback_timeout_s
        )
    return presence.inside


def _exit_violations(point: AccessPoint, presence: Presence) -> tuple[Reason, ...]:
    """Leaving is never refused; leaving an anti-passback zone one never entered is noted."""
    if point.zone.anti_passback in (AntiPassback.HARD, AntiPassback.SOFT) and not presence.inside:
        return (Reason.ANTIPASSBACK_VIOLATION,)
    return ()


def _authorization_for(
    entry: CredentialEntry, zone: ZoneRules, now: datetime, calendar: SiteCalendar
) -> AuthorizationEntry | Reason:
    """The first authorization admitting ``now`` into the zone, or why none does."""
    valid_now = [
        a
        for a in entry.authorizations
        if a.zone_id == zone.zone_id
        and (a.valid_from is None or a.valid_from <= now)
        and (a.valid_to is None or now < a.valid_to)
    ]
    if not valid_now:
        return Reason.UNAUTHORIZED
    if zone.recertify_days is not None:
        limit = timedelta(days=zone.recertify_days)
        valid_now = [a for a in valid_now if a.certified_at is None or now < a.certified_at + limit]
        if not valid_now:
            return Reason.AUTHORIZATION_NOT_RECERTIFIED
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
        """The state after a PIN attempt; a correct (or duress) PIN resets the count."""
        if check in (PinCheck.CORRECT, PinCheck.DURESS):
            return PinLockout()
        if check is not PinCheck.WRONG:
            return self
        failures = 0 if self.locked_until is not None and not self.locked(now) else self.failures
        failures += 1
        if failures >= max_failures:
            return PinLockout(failures, now + timedelta(seconds=lockout_s))
        return PinLockout(failures, None)
