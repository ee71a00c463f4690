"""Tables. Every row carries its site id so that a central server can gather many sites.

Master data (people, credentials, authorizations, accounts) changes over time; each change is
also written to the record log as an operator action. Records themselves are never changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON as SAJSON
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow
from gateway.domain import CredentialFormat, CredentialStatus, PersonKind


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite (naive text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC (naive on SQLite, which keeps no zone)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Sekisho stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return timezone-aware UTC."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EnumValue(TypeDecorator[StrEnum]):
    """A StrEnum stored as its value in a VARCHAR (not its name, not a database ENUM type)."""

    impl = String(32)
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum]) -> None:
        super().__init__()
        self.enum_cls = enum_cls

    def process_bind_param(self, value: StrEnum | str | None, dialect: Dialect) -> str | None:
        """Store the value; refuse strings that are not a member."""
        return None if value is None else self.enum_cls(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        """Return the enum member."""
        return None if value is None else self.enum_cls(value)


def enum_column(enum_cls: type[StrEnum]) -> Any:
    """A NOT NULL column holding a StrEnum's value."""
    return Column(EnumValue(enum_cls), nullable=False)


def utc_column(*, nullable: bool, index: bool = False) -> Any:
    """A column for a UTC timestamp (a fresh Column per field, as SQLAlchemy needs)."""
    return Column(UTCDateTime(), nullable=nullable, index=index)


def new_id() -> str:
    """A new random row id (32 hex digits): unique across sites without coordination."""
    return uuid4().hex


class Person(SQLModel, table=True):
    """Someone who may hold credentials: staff, a visitor or a contractor."""

    __tablename__ = "person"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    kind: PersonKind = Field(sa_column=enum_column(PersonKind))
    name: str = Field(max_length=200)
    organisation: str | None = Field(default=None, max_length=200)
    employee_no: str | None = Field(default=None, max_length=64)
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class Credential(SQLModel, table=True):
    """A card (and optionally a PIN) that identifies a person at a reader."""

    __tablename__ = "credential"
    __table_args__ = (UniqueConstraint("site_id", "card_key", name="uq_credential_card"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    format: CredentialFormat = Field(sa_column=enum_column(CredentialFormat))
    facility: int
    number: int = Field(sa_type=BigInteger)  # EM4100 numbers use all 32 bits
    card_key: str = Field(max_length=64)  # CardId.key, the lookup key
    pin_hash: str | None = Field(default=None, max_length=255)  # argon2id; never the PIN
    status: CredentialStatus = Field(
        default=CredentialStatus.ENABLED, sa_column=enum_column(CredentialStatus)
    )
    valid_from: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    valid_to: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class Authorization(SQLModel, table=True):
    """Leave for a person to enter a zone on a schedule within a validity window (4-8-7(1))."""

    __tablename__ = "authorization"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    zone_id: str = Field(max_length=63)
    schedule_id: str = Field(default="always", max_length=63)
    valid_from: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    valid_to: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    purpose: str | None = Field(default=None, max_length=500)
    granted_by: str = Field(max_length=64)  # account username
    granted_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    revoked_by: str | None = Field(default=None, max_length=64)
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Account(SQLModel, table=True):
    """An operator account for the API and the dashboard."""

    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("site_id", "username", name="uq_account_username"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    username: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(max_length=16)  # api.roles.Role value
    person_id: str | None = Field(default=None, foreign_key="person.id", max_length=32)
    zones: list[str] = Field(default_factory=list, sa_column=Column(SAJSON, nullable=False))
    password_hash: str = Field(max_length=255)  # argon2id
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    created_by: str | None = Field(default=None, max_length=64)


class CredentialState(SQLModel, table=True):
    """Working state of a credential that survives restarts: PIN failures and lock-out."""

    __tablename__ = "credential_state"
    credential_id: str = Field(primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    pin_failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


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
    ts: datetime = Field(sa_column=utc_column(nullable=False))  # UTC wall-clock time of the event
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


# Core tables, for the hot paths that skip the ORM.
PERSON_TABLE = SQLModel.metadata.tables["person"]
CREDENTIAL_TABLE = SQLModel.metadata.tables["credential"]
AUTHORIZATION_TABLE = SQLModel.metadata.tables["authorization"]
RECORD_TABLE = SQLModel.metadata.tables["record"]
