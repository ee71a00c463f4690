"""Tables. Every row carries its site id so that a central server can gather many sites.

Master data (people, credentials, authorizations, accounts) changes over time; each change is
also written to the record log as an operator action. Records themselves are never changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from sqlalchemy import JSON as SAJSON
from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.domain import CredentialFormat, CredentialStatus, PersonKind


def new_id() -> str:
    """A new random row id (32 hex digits): unique across sites without coordination."""
    return uuid4().hex


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Person(SQLModel, table=True):
    """Someone who may hold credentials: staff, a visitor or a contractor."""

    __tablename__ = "person"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    kind: PersonKind = Field(max_length=16)
    name: str = Field(max_length=200)
    organisation: str | None = Field(default=None, max_length=200)
    employee_no: str | None = Field(default=None, max_length=64)
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Credential(SQLModel, table=True):
    """A card (and optionally a PIN) that identifies a person at a reader."""

    __tablename__ = "credential"
    __table_args__ = (UniqueConstraint("site_id", "card_key", name="uq_credential_card"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    format: CredentialFormat = Field(max_length=16)
    facility: int
    number: int
    card_key: str = Field(max_length=64)  # CardId.key, the lookup key
    pin_hash: str | None = Field(default=None, max_length=255)  # argon2id; never the PIN
    status: CredentialStatus = Field(default=CredentialStatus.ENABLED, max_length=16)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Authorization(SQLModel, table=True):
    """Leave for a person to enter a zone on a schedule within a validity window (4-8-7(1))."""

    __tablename__ = "authorization"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    zone_id: str = Field(max_length=63)
    schedule_id: str = Field(default="always", max_length=63)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    purpose: str | None = Field(default=None, max_length=500)
    granted_by: str = Field(max_length=64)  # account username
    granted_at: datetime = Field(default_factory=utcnow)
    revoked_by: str | None = Field(default=None, max_length=64)
    revoked_at: datetime | None = None


class Account(SQLModel, table=True):
    """An operator account for the API and the dashboard."""

    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("site_id", "username", name="uq_account_username"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    username: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(max_length=16)  # api.roles.Role value
    zones: list[str] = Field(default_factory=list, sa_column=Column(SAJSON, nullable=False))
    password_hash: str = Field(max_length=255)  # argon2id
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str | None = Field(default=None, max_length=64)


class CredentialState(SQLModel, table=True):
    """Working state of a credential that survives restarts: PIN failures and lock-out."""

    __tablename__ = "credential_state"
    credential_id: str = Field(primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    pin_failures: int = 0
    locked_until: datetime | None = None


class Record(SQLModel, table=True):
    """One entry of the site's append-only log: a decision, a door event, an operator action.

    ``seq`` is gap-free per site. Rows are inserted once and never updated or deleted.
    """

    __tablename__ = "record"
    __table_args__ = (
        Index("ix_record_site_ts", "site_id", "ts"),
        Index("ix_record_site_person_ts", "site_id", "person_id", "ts"),
        Index("ix_record_site_door_ts", "site_id", "door_id", "ts"),
        Index("ix_record_site_kind_ts", "site_id", "kind", "ts"),
    )
    site_id: str = Field(primary_key=True, max_length=63)
    seq: int = Field(primary_key=True)
    ts: datetime  # UTC wall-clock time of the event
    kind: str = Field(max_length=48)  # gateway.records.RecordKind value
    door_id: str | None = Field(default=None, max_length=63)
    zone_id: str | None = Field(default=None, max_length=63)
    reader_id: str | None = Field(default=None, max_length=63)
    person_id: str | None = Field(default=None, max_length=32)
    person_kind: str | None = Field(default=None, max_length=16)
    credential: str | None = Field(default=None, max_length=64)  # masked, never the whole number
    direction: str | None = Field(default=None, max_length=8)
    outcome: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, max_length=48)
    actor: str | None = Field(default=None, max_length=64)  # account that caused it, if any
    detail: dict[str, object] = Field(
        default_factory=dict, sa_column=Column(SAJSON, nullable=False)
    )
