"""Domain vocabulary shared by every layer: people, credentials, doors, decisions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PersonKind(StrEnum):
    """Who a person is to the organisation (4-8-7(1) 部外者の識別化)."""

    STAFF = "staff"  # an employee of the body
    VISITOR = "visitor"  # an outsider on a visit: always escorted or watched
    CONTRACTOR = "contractor"  # an outsider under contract (4-8-9)

    @property
    def is_outsider(self) -> bool:
        """True for people who are not staff."""
        return self is not PersonKind.STAFF


class CredentialFormat(StrEnum):
    """Card formats Sekisho reads; the value is the name used in card keys."""

    H10301 = "H10301"  # 26-bit Wiegand: 8-bit facility, 16-bit number
    C1000 = "C1000"  # 35-bit HID Corporate 1000: 12-bit company, 20-bit number
    H10304 = "H10304"  # 37-bit Wiegand: 16-bit facility, 19-bit number
    EM4100 = "EM4100"  # 125 kHz EM4100 as read by an RDM6300: 8-bit version, 32-bit id


FORMAT_LIMITS: dict[CredentialFormat, tuple[int, int]] = {
    # format: (facility bits, number bits)
    CredentialFormat.H10301: (8, 16),
    CredentialFormat.C1000: (12, 20),
    CredentialFormat.H10304: (16, 19),
    CredentialFormat.EM4100: (8, 32),
}


@dataclass(frozen=True, slots=True)
class CardId:
    """What a reader read: a card's format, facility (or company) code and number."""

    format: CredentialFormat
    facility: int
    number: int

    def __post_init__(self) -> None:
        fac_bits, num_bits = FORMAT_LIMITS[self.format]
        if not 0 <= self.facility < (1 << fac_bits):
            raise ValueError(
                f"facility {self.facility} does not fit {self.format} ({fac_bits} bits)"
            )
        if not 0 <= self.number < (1 << num_bits):
            raise ValueError(f"number {self.number} does not fit {self.format} ({num_bits} bits)")

    @property
    def key(self) -> str:
        """Canonical lookup key, e.g. ``H10301:12:3456``."""
        return f"{self.format.value}:{self.facility}:{self.number}"

    @property
    def masked(self) -> str:
        """The form written to records and logs: format and last three digits only."""
        return mask_card_number(self.format, self.number)

    @classmethod
    def parse(cls, text: str) -> CardId:
        """Parse ``FORMAT:FACILITY:NUMBER`` (decimal); raise ValueError on anything else."""
        parts = text.strip().split(":")
        if len(parts) != 3:
            raise ValueError(f"card key {text!r} is not FORMAT:FACILITY:NUMBER")
        try:
            fmt = CredentialFormat(parts[0].upper())
        except ValueError:
            known = ", ".join(f.value for f in CredentialFormat)
            raise ValueError(f"unknown card format {parts[0]!r} (known: {known})") from None
        if not (parts[1].isdigit() and parts[2].isdigit()):
            raise ValueError(f"card key {text!r}: facility and number must be decimal")
        return cls(fmt, int(parts[1]), int(parts[2]))


def mask_card_number(fmt: CredentialFormat, number: int) -> str:
    """Mask a card number so that records never hold the whole of it."""
    digits = str(number)
    return f"{fmt.value}:…{digits[-3:]}" if len(digits) > 3 else f"{fmt.value}:…{digits}"


class CredentialStatus(StrEnum):
    """Administrative state of a credential."""

    ENABLED = "enabled"  # may be used, subject to validity and authorizations
    DISABLED = "disabled"  # suspended by an operator; may be re-enabled
    LOST = "lost"  # reported lost; never re-enabled, a new credential is issued
    STOLEN = "stolen"  # reported stolen; use is a security event
    RETURNED = "returned"  # handed back (visitor cards, leavers)


class Direction(StrEnum):
    """Which way a person passes a door."""

    IN = "in"  # into the door's zone
    OUT = "out"  # out of the door's zone


class AuthMode(StrEnum):
    """How a door authenticates people."""

    CARD = "card"  # a valid card alone opens the door
    CARD_AND_PIN = "card_and_pin"  # card then PIN on the reader's keypad (4-8-7(3))


class DoorMode(StrEnum):
    """What a door does with badges: ONVIF's door modes (set by the desk, lockdown, schedules)."""

    ACCESS = "access"  # normal: locked, a granted badge releases it for the strike time
    UNLOCKED = "unlocked"  # strike held released: free passage (badges still recorded)
    LOCKED = "locked"  # locked for badges; the desk may still release it momentarily
    BLOCKED = "blocked"  # locked for badges and for the desk; request-to-exit still works
    LOCKED_DOWN = "locked_down"  # zone lockdown from the desk: as blocked, until released
    LOCKED_OPEN = "locked_open"  # emergency open (fire, evacuation): released until cleared
    DOUBLE_LOCKED = "double_locked"  # unoccupied zone secured: no badges, no desk, no REX release


class Outcome(StrEnum):
    """Result of an access decision."""

    GRANTED = "granted"  # the door is released for this person
    DENIED = "denied"  # refused, with a reason
    PENDING = "pending"  # valid so far, waiting for an escort or a second person at the door


class Reason(StrEnum):
    """Why a decision came out as it did; ONVIF Access Control names where ONVIF has one."""

    GRANTED = "Granted"  # every check passed
    CREDENTIAL_NOT_FOUND = "CredentialNotFound"  # ONVIF: no credential with this identifier
    UNREADABLE_CREDENTIAL = "UnreadableCredential"  # the frame failed parity/checksum/length
    CREDENTIAL_NOT_ENABLED = "CredentialNotEnabled"  # ONVIF: disabled, lost, stolen or returned
    CREDENTIAL_NOT_ACTIVE = "CredentialNotActive"  # ONVIF: before valid-from
    CREDENTIAL_EXPIRED = "CredentialExpired"  # ONVIF: after valid-to
    PERSON_NOT_ENABLED = "PersonNotEnabled"  # the holder is disabled (left, suspended)
    UNAUTHORIZED = "Unauthorized"  # ONVIF: no authorization for this door's zone
    NOT_PERMITTED_AT_THIS_TIME = "NotPermittedAtThisTime"  # ONVIF: outside the schedule
    INVALID_PIN = "InvalidPIN"  # ONVIF: the PIN did not match
    PIN_NOT_ENTERED = "PINNotEntered"  # card+PIN door and no PIN came in time
    CREDENTIAL_LOCKED_OUT = "CredentialLockedOut"  # too many wrong PINs; locked for a while
    DOOR_FAULT = "DoorFault"  # the door's lock cannot be driven (I/O module offline)
    RECORDING_FAILED = "RecordingFailed"  # the grant could not be recorded: the door stays shut
    CONTRACT_EXPIRED = "ContractExpired"  # a contractor's contract has ended or is not on file
    AUTHORIZATION_NOT_RECERTIFIED = "AuthorizationNotRecertified"  # lapsed: not recertified
    TRAINING_EXPIRED = "TrainingExpired"  # the zone needs a current training record (4-8-3)
    NO_APPROVED_PURPOSE = "NoApprovedPurpose"  # no standing purpose and no approved work order
    ANTIPASSBACK_VIOLATION = "AntipassbackViolation"  # ONVIF: already inside / re-entry too soon
    INTERLOCK_NOT_SATISFIED = "InterlockNotSatisfied"  # another door of the interlock is not shut
    DOOR_LOCKED = "DoorLocked"  # the door is in locked or double-locked mode
    DOOR_BLOCKED = "DoorBlocked"  # the door is in blocked mode
    DOOR_LOCKED_DOWN = "DoorLockedDown"  # the zone is locked down from the desk
    AWAITING_ESCORT = "AwaitingEscort"  # pending: an outsider waits for an escort's badge
    AWAITING_SECOND_PERSON = "AwaitingSecondPerson"  # pending: two-person rule
    ESCORT_NOT_PRESENTED = "EscortNotPresented"  # no escort badged within the window
    SECOND_PERSON_NOT_PRESENTED = "SecondPersonNotPresented"  # nobody else badged in time


class DoorState(StrEnum):
    """Where a door's state machine stands."""

    LOCKED = "locked"  # closed and locked: the resting state
    RELEASED = "released"  # strike released (grant, REX or desk unlock); door not yet opened
    OPEN = "open"  # opened while released: a legitimate passage in progress
    HELD_PREALARM = "held_prealarm"  # still open, nearing the held-open limit: warn the person
    HELD = "held"  # open past the held-open limit: alarm until it closes
    FORCED = "forced"  # opened while locked: alarm until it closes
    FAULT = "fault"  # its I/O module is unreachable: state unknown, lock left fail-secure
