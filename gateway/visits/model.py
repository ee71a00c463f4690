"""Visits: their states, what the desk records at check-in, and the views the API shows.

Clause 4-8-7(1): outsiders are identified (部外者の識別化) and escorted; a visit is approved by
the manager of each zone it enters, never by its host or whoever registered it (4-8-6(6)).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gateway.custody import Invalid
from gateway.domain import CardId


class VisitStatus(StrEnum):
    """Where a visit stands."""

    REQUESTED = "requested"  # registered by the host; waiting for the zones' managers
    APPROVED = "approved"  # every zone approved: the desk may check the visitor in
    REJECTED = "rejected"  # a zone's manager refused it
    CANCELLED = "cancelled"  # withdrawn before check-in
    CHECKED_IN = "checked_in"  # identified at the desk, wearing a visitor badge
    CHECKED_OUT = "checked_out"  # badge handed back (or reported not returned) and disabled


OPEN = frozenset({VisitStatus.REQUESTED, VisitStatus.APPROVED})  # may still be called off


class IdDocument(StrEnum):
    """The kind of identity document shown at the desk (only its kind and last digits are kept)."""

    DRIVERS_LICENCE = "drivers_licence"
    PASSPORT = "passport"
    RESIDENCE_CARD = "residence_card"
    COMPANY_ID = "company_id"  # the visitor's employer's photo ID
    OTHER = "other"


_LAST_DIGITS = re.compile(r"^[0-9A-Za-z]{1,4}$")


def last_digits(text: str) -> str:
    """The last digits of a document number as kept: 1-4 letters or digits, nothing more."""
    text = text.strip()
    if not _LAST_DIGITS.match(text):
        raise Invalid("id_document_last", "give only the last 1-4 letters or digits of the number")
    return text.upper()


@dataclass(frozen=True, slots=True)
class NewVisitor:
    """A visitor not yet known: a person of kind visitor is created for them."""

    name: str
    organisation: str | None = None


@dataclass(frozen=True, slots=True)
class VisitPlan:
    """What a host pre-registers."""

    host_id: str
    purpose: str
    zones: tuple[str, ...]
    valid_from: datetime
    valid_to: datetime
    visitor: NewVisitor | None = None  # either a new visitor ...
    visitor_id: str | None = None  # ... or a known visitor or contractor


@dataclass(frozen=True, slots=True)
class CheckIn:
    """What the desk records when the visitor arrives."""

    id_document_type: IdDocument
    id_document_last: str  # last digits only
    card: CardId  # the visitor badge handed over
    escort_id: str  # the staff member who escorts the visitor
    pin: str | None = None  # for card+PIN doors, typed by the visitor at the desk
    photo_evidence_seq: int | None = None  # a camera snapshot's record (issue 7)
    photo_sha256: str | None = None  # ... or the snapshot's hash


@dataclass(frozen=True, slots=True)
class Approval:
    """One zone's approval of a visit."""

    zone_id: str
    by: str
    at: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class VisitView:
    """A visit as the desk and the auditors see it."""

    id: str
    visitor_id: str
    visitor_name: str
    visitor_kind: str
    organisation: str | None
    host_id: str
    host_name: str
    purpose: str
    zones: tuple[str, ...]
    valid_from: datetime
    valid_to: datetime
    status: VisitStatus
    requested_by: str
    requested_at: datetime
    approvals: tuple[Approval, ...]
    pending_zones: tuple[str, ...]
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    id_document_type: str | None
    id_document_last: str | None
    photo_evidence_seq: int | None
    photo_sha256: str | None
    escort_id: str | None
    escort_name: str | None
    credential_id: str | None
    card_masked: str | None
    checked_in_at: datetime | None
    checked_in_by: str | None
    checked_out_at: datetime | None
    checked_out_by: str | None
    credential_returned: bool | None
    overstay_at: datetime | None


@dataclass(frozen=True, slots=True)
class Passage:
    """One stay in a zone from the access records: in (with whom), and out."""

    zone_id: str
    entered_at: datetime | None
    entry_door: str | None
    escort_id: str | None
    escort_name: str | None
    exited_at: datetime | None = None
    exit_door: str | None = None
    exit_by: str | None = None  # "badge" or "rex" (request-to-exit taken as theirs)


@dataclass(frozen=True, slots=True)
class VisitorLogEntry:
    """One visit in the visitor log, with NIST SP 800-53 PE-8's fields."""

    visit_id: str
    date: str  # the site's local date of arrival (YYYY-MM-DD)
    visitor_name: str
    organisation: str | None
    visitor_kind: str
    id_document_type: str | None  # the form of identification
    id_document_last: str | None
    purpose: str
    host_name: str
    escort_assigned: str | None
    card_masked: str | None
    arrived_at: datetime | None  # checked in at the desk
    departed_at: datetime | None  # checked out at the desk
    passages: tuple[Passage, ...] = field(default_factory=tuple)  # entries and exits, each
