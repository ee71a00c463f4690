"""Request and response bodies: inputs refuse unknown keys; outputs never carry a PIN or hash."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)

from gateway.core_api import DoorStatus, ReaderStatus
from gateway.domain import (
    AuthMode,
    CardId,
    CredentialFormat,
    CredentialStatus,
    DoorMode,
    DoorState,
    PersonKind,
)
from gateway.storage.models import Account, Authorization, Credential
from gateway.storage.queries import StoredRecord

# ---------------------------------------------------------------- value types


def _single_line(value: str) -> str:
    """Refuse control characters and lone surrogates (PostgreSQL cannot store them)."""
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ValueError("must not contain control characters")
    return value


def _multi_line(value: str) -> str:
    """Like _single_line, but tabs and line breaks are allowed."""
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\n\r" for c in value):
        raise ValueError("must not contain control characters")
    return value


def _not_blank(value: str) -> str:
    """Refuse a value of only whitespace."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def to_utc(value: datetime) -> datetime:
    """A timezone-aware UTC datetime; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("datetime out of range") from None


def utc_or_none(value: datetime | None) -> datetime | None:
    """``to_utc`` for a column that may be empty (rows from SQLite come back naive)."""
    return None if value is None else to_utc(value)


RowId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", examples=["3f2a9c" + "0" * 26])]
Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Name = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(_single_line),
    AfterValidator(_not_blank),
]
Line64 = Annotated[str, Field(max_length=64), AfterValidator(_single_line)]
Line200 = Annotated[str, Field(max_length=200), AfterValidator(_single_line)]
SearchText = Annotated[str, Field(max_length=100), AfterValidator(_single_line)]
Note = Annotated[str, Field(max_length=500), AfterValidator(_multi_line)]
Secret = Annotated[str, Field(max_length=256), AfterValidator(_single_line)]
PinDigits = Annotated[str, Field(pattern=r"^[0-9]{1,12}$")]
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date_time_text(value: object) -> object:
    """Times come as RFC 3339 text (the schema says date-time), never as a bare number.

    Pydantic would take ``0.5`` or ``"1700000000"`` as a Unix time; the schema fuzzer found
    routes accepting such values against their own schema (issue 9).
    """
    if isinstance(value, int | float) or (isinstance(value, str) and not _ISO_DATE.match(value)):
        raise ValueError("give a date-time as RFC 3339 text, e.g. 2026-11-26T09:00:00+09:00")
    return value


UtcTime = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(to_utc)]


class In(BaseModel):
    """Base of request bodies: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Base of response bodies, read from rows or core status objects."""

    model_config = ConfigDict(from_attributes=True)


def _check_validity(valid_from: datetime | None, valid_to: datetime | None) -> None:
    """Refuse a validity window that ends before it starts."""
    if valid_from is not None and valid_to is not None and valid_from >= valid_to:
        raise ValueError("valid_from must be before valid_to")


# ---------------------------------------------------------------- health and auth


class HealthOut(Out):
    """Liveness only: nothing about the site (4-8-7(2))."""

    status: Literal["ok"] = "ok"


class TokenOut(Out):
    """A bearer token for the Authorization header (or ``?access_token=`` on the stream)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (the OAuth2 token type name)
    expires_in: int = Field(description="seconds until the token expires")


class MeOut(Out):
    """The caller's own account and what it may do."""

    id: str
    username: str
    display_name: str
    role: str
    zones: list[str]
    person_id: str | None
    permissions: list[str]


# ---------------------------------------------------------------- accounts


class AccountOut(Out):
    """An operator account; the password hash is never shown."""

    id: str
    username: str
    display_name: str
    role: str
    zones: list[str]
    person_id: str | None
    enabled: bool
    created_at: UtcTime
    created_by: str | None

    @classmethod
    def of(cls, row: Account) -> AccountOut:
        """Response body for an account row."""
        return cls.model_validate(row)


class AccountCreate(In):
    """A new account (4-8-2 roles); managers name the zones they manage."""

    username: Line64
    password: Secret = Field(description="at least 12 characters; stored only as argon2id")
    role: str = Field(max_length=16, examples=["operator"])
    display_name: Line200 = ""
    zones: list[Ident] = Field(default_factory=list, max_length=100)
    person_id: RowId | None = Field(
        default=None, description="the person this account belongs to (separation of duties)"
    )


class PasswordIn(In):
    """A new password set by an administrator."""

    password: Secret


# ---------------------------------------------------------------- people


class PersonOut(Out):
    """A person in master data."""

    id: str
    kind: PersonKind
    name: str
    organisation: str | None
    employee_no: str | None
    enabled: bool
    contract_end: UtcTime | None = Field(
        default=None, description="contractors: access lapses at this instant (4-8-9)"
    )
    created_at: UtcTime
    updated_at: UtcTime


class PeoplePage(Out):
    """One page of people."""

    items: list[PersonOut]
    total: int


class PersonCreate(In):
    """A new person: staff, visitor or contractor (4-8-7(1) 部外者の識別化)."""

    kind: PersonKind
    name: Name
    organisation: Line200 | None = None
    employee_no: Line64 | None = None
    enabled: bool = True
    contract_end: UtcTime | None = Field(
        default=None,
        description="required for contractors, and for them only: the end of their contract; "
        "their access lapses with it (4-8-9)",
    )

    @model_validator(mode="after")
    def _contract(self) -> Self:
        """A contractor has a contract end date on file; nobody else has one."""
        if self.kind is PersonKind.CONTRACTOR and self.contract_end is None:
            raise ValueError("contract_end is required for a contractor (4-8-9)")
        if self.kind is not PersonKind.CONTRACTOR and self.contract_end is not None:
            raise ValueError("contract_end applies to contractors only")
        return self


class PersonPatch(In):
    """Changes to a person; keys left out stay as they are."""

    name: Name | None = None
    organisation: Line200 | None = None
    employee_no: Line64 | None = None
    enabled: bool | None = None
    contract_end: UtcTime | None = Field(
        default=None, description="contractors only; cannot be cleared (4-8-9)"
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        """Refuse null for fields that cannot be empty."""
        for key in ("name", "enabled", "contract_end"):
            if key in self.model_fields_set and getattr(self, key) is None:
                raise ValueError(f"{key} cannot be null")
        return self


# ---------------------------------------------------------------- credentials


class CredentialOut(Out):
    """A credential: the full card key is master data; the PIN is only ``has_pin``."""

    id: str
    person_id: str
    format: CredentialFormat
    facility: int
    number: int
    card: str = Field(description="canonical card key FORMAT:FACILITY:NUMBER")
    status: CredentialStatus
    valid_from: UtcTime | None
    valid_to: UtcTime | None
    has_pin: bool
    has_duress_pin: bool = Field(
        default=False, description="a duress PIN is set (it grants and raises a silent alarm)"
    )
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, row: Credential) -> CredentialOut:
        """Response body for a credential row."""
        return cls(
            id=row.id,
            person_id=row.person_id,
            format=row.format,
            facility=row.facility,
            number=row.number,
            card=row.card_key,
            status=row.status,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            has_pin=row.pin_hash is not None,
            has_duress_pin=row.duress_pin_hash is not None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class CredentialCreate(In):
    """A new card for a person: ``card`` as a key, or format, facility and number."""

    card: str | None = Field(default=None, max_length=64, examples=["H10301:12:3456"])
    format: CredentialFormat | None = None
    facility: StrictInt | None = None
    number: StrictInt | None = None
    pin: PinDigits | None = Field(default=None, description="digits; stored only as argon2id")
    valid_from: UtcTime | None = None
    valid_to: UtcTime | None = None

    @model_validator(mode="after")
    def _one_card(self) -> Self:
        """Require exactly one way of naming the card, and a card CardId accepts."""
        parts = (self.format, self.facility, self.number)
        if self.card is not None:
            if any(p is not None for p in parts):
                raise ValueError("give either card or format/facility/number, not both")
            CardId.parse(self.card)
        elif any(p is None for p in parts):
            raise ValueError("give card, or all of format, facility and number")
        else:
            self.card_id()
        _check_validity(self.valid_from, self.valid_to)
        return self

    def card_id(self) -> CardId:
        """The card this body names (validated by CardId)."""
        if self.card is not None:
            return CardId.parse(self.card)
        assert self.format is not None
        assert self.facility is not None
        assert self.number is not None
        return CardId(self.format, self.facility, self.number)


class CredentialPatch(In):
    """Changes to a credential's status or validity; keys left out stay as they are."""

    status: CredentialStatus | None = None
    valid_from: UtcTime | None = None
    valid_to: UtcTime | None = None

    @model_validator(mode="after")
    def _no_null_status(self) -> Self:
        """Refuse a null status."""
        if "status" in self.model_fields_set and self.status is None:
            raise ValueError("status cannot be null")
        return self


class PinIn(In):
    """Set or replace a credential's PIN; ``null`` clears it (4-8-7(3))."""

    pin: PinDigits | None


class DuressPinIn(In):
    """Set or replace a credential's duress PIN; ``null`` clears it.

    Entered instead of the PIN at a card+PIN door, it opens the door as usual and raises a
    silent alarm. It must follow the site's PIN policy and differ from the PIN.
    """

    duress_pin: PinDigits | None


# ---------------------------------------------------------------- authorizations


class AuthorizationOut(Out):
    """Leave for a person to enter a zone (4-8-7(1))."""

    id: str
    person_id: str
    zone_id: str
    schedule_id: str
    valid_from: UtcTime | None
    valid_to: UtcTime | None
    purpose: str | None
    granted_by: str
    granted_at: UtcTime
    revoked_by: str | None
    revoked_at: UtcTime | None
    supervisor: bool = Field(
        default=False, description="opens first-person-in doors for the day (a supervisor)"
    )
    recertified_by: str | None = None
    recertified_at: UtcTime | None = None
    recertify_due_at: UtcTime | None = Field(
        default=None,
        description="when it lapses unless the zone's manager recertifies it (zones with "
        "recertify_days only, 4-8-7(3))",
    )
    lapsed: bool = Field(
        default=False, description="not recertified in time: it admits nobody until recertified"
    )
    active: bool = Field(description="not revoked and within its validity now (see lapsed)")

    @classmethod
    def of(
        cls, row: Authorization, now: datetime, recertify_days: int | None = None
    ) -> AuthorizationOut:
        """Response body for an authorization row, judged at ``now``.

        ``recertify_days`` is its zone's recertification period, if the zone has one.
        """
        valid_from = to_utc(row.valid_from) if row.valid_from is not None else None
        valid_to = to_utc(row.valid_to) if row.valid_to is not None else None
        due = None
        if recertify_days is not None:
            certified = to_utc(row.recertified_at or row.granted_at)
            due = certified + timedelta(days=recertify_days)
        lapsed = due is not None and now >= due
        active = (
            row.revoked_at is None
            and (valid_from is None or valid_from <= now)
            and (valid_to is None or now < valid_to)
        )
        data = row.model_dump()
        data.update(active=active, lapsed=lapsed, recertify_due_at=due)
        return cls.model_validate(data)


class AuthorizationsPage(Out):
    """One page of authorizations."""

    items: list[AuthorizationOut]
    total: int


class AuthorizationCreate(In):
    """A grant: person, zone, schedule and validity, with its purpose."""

    person_id: RowId
    zone_id: Ident
    schedule_id: Ident = "always"
    valid_from: UtcTime | None = None
    valid_to: UtcTime | None = None
    purpose: Note | None = None
    supervisor: bool = Field(
        default=False,
        description="the holder opens first-person-in doors of the zone for the day",
    )

    @model_validator(mode="after")
    def _validity(self) -> Self:
        """Refuse a validity window that ends before it starts."""
        _check_validity(self.valid_from, self.valid_to)
        return self


class RevokeIn(In):
    """Why an authorization is revoked (optional)."""

    reason: Note | None = None


class RecertifyIn(In):
    """A zone manager's note on a recertification (optional)."""

    note: Note | None = None


# ---------------------------------------------------------------- site, doors, readers


class ZoneDoorOut(Out):
    """A door leading into a zone (its declared entrance, 4-8-7(2))."""

    id: str
    name: str
    mode: DoorMode
    auth: AuthMode
    entry_reader: str | None
    exit_reader: str | None


class ZoneOut(Out):
    """A zone from the site file, with its doors."""

    id: str
    name: str
    kind: str
    doors: list[ZoneDoorOut]


class DoorOut(Out):
    """A door's live status."""

    door_id: str
    name: str
    zone_id: str
    state: DoorState
    mode: DoorMode
    auth: AuthMode
    contact_open: bool | None
    strike_released: bool
    since: UtcTime

    @classmethod
    def of(cls, status: DoorStatus) -> DoorOut:
        """Response body for a core door status."""
        return cls.model_validate(status)


class UnlockIn(In):
    """A momentary unlock from the desk, with an optional note for the record."""

    note: Note | None = None


class UnlockOut(Out):
    """The record of a momentary unlock."""

    door_id: str
    seq: int


class ReaderOut(Out):
    """A reader's live status."""

    reader_id: str
    door_id: str | None
    online: bool
    secure: bool
    tamper: bool

    @classmethod
    def of(cls, status: ReaderStatus) -> ReaderOut:
        """Response body for a core reader status."""
        return cls.model_validate(status)


# ---------------------------------------------------------------- records


class RecordOut(Out):
    """One record of the log, as stored (credentials masked)."""

    seq: int
    ts: UtcTime
    kind: str
    door_id: str | None
    zone_id: str | None
    reader_id: str | None
    person_id: str | None
    person_kind: str | None
    credential: str | None
    direction: str | None
    outcome: str | None
    reason: str | None
    actor: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: StoredRecord) -> RecordOut:
        """Response body for a stored record."""
        return cls.model_validate(row)


class EventsPage(Out):
    """Newest first; pass ``next_before_seq`` as ``before_seq`` for the next page."""

    items: list[RecordOut]
    next_before_seq: int | None


class ErrorOut(Out):
    """An error that is not a validation error."""

    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error codes."""
    text = {
        401: "Not authenticated, or the token is invalid or expired",
        403: "The caller's role does not allow this",
        404: "No such object",
        409: "Conflicts with the current state",
    }
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}
