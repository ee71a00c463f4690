"""Tables. Every row carries its site id so that a central server can gather many sites.

Master data (people, credentials, authorizations, accounts) changes over time; each change is
also written to the record log as an operator action. Records themselves are never changed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
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
    Integer,
    LargeBinary,
    String,
    Text,
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
    contract_end: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
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
    duress_pin_hash: str | None = Field(default=None, max_length=255)  # argon2id
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
    recertified_by: str | None = Field(default=None, max_length=64)
    recertified_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    supervisor: bool = False  # may open first-person-in doors for the day


class TrainingRecord(SQLModel, table=True):
    """A person's completed training (4-8-3): a zone may require a current one."""

    __tablename__ = "training_record"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    course: str = Field(max_length=63)
    completed_at: datetime = Field(sa_column=utc_column(nullable=False))
    valid_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class WorkOrder(SQLModel, table=True):
    """A purpose for one person's entry to a zone in a time window (用件の確認), once approved."""

    __tablename__ = "work_order"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    zone_id: str = Field(max_length=63)
    purpose: str = Field(max_length=500)
    valid_from: datetime = Field(sa_column=utc_column(nullable=False))
    valid_to: datetime = Field(sa_column=utc_column(nullable=False))
    status: str = Field(default="requested", max_length=16)  # requested/approved/rejected/cancelled
    requested_by: str = Field(max_length=64)
    requested_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decision_note: str | None = Field(default=None, max_length=500)


class Presence(SQLModel, table=True):
    """Working state: who is inside which zone (occupancy, anti-passback); records are history."""

    __tablename__ = "presence"
    site_id: str = Field(primary_key=True, max_length=63)
    zone_id: str = Field(primary_key=True, max_length=63)
    person_id: str = Field(primary_key=True, max_length=32)
    person_kind: str = Field(max_length=16)
    inside: bool = False
    since: datetime = Field(sa_column=utc_column(nullable=False))  # of the current state
    last_in: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    escorted_by: str | None = Field(default=None, max_length=32)
    entry_seq: int | None = Field(default=None, sa_type=BigInteger)


class DoorModeState(SQLModel, table=True):
    """Working state: a door mode set from the desk or by a lockdown survives a restart."""

    __tablename__ = "door_mode_state"
    site_id: str = Field(primary_key=True, max_length=63)
    door_id: str = Field(primary_key=True, max_length=63)
    mode: str = Field(max_length=16)
    lockdown: bool = False  # set by a zone lockdown (released together)
    set_by: str = Field(max_length=64)
    set_at: datetime = Field(sa_column=utc_column(nullable=False))
    reason: str | None = Field(default=None, max_length=500)


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
    # Tamper evidence (gateway.audit.entry): the leaf of record seq is SHA-256(0x00 || commitment),
    # commitment = SHA-256(salt || canonical JSON). A retention purge blanks the personal fields
    # and the salt, names the purge record in ``purged_by``, and leaves the commitment.
    salt: bytes | None = Field(default=None, sa_column=Column(LargeBinary(16), nullable=True))
    commitment: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32), nullable=True))
    purged_by: int | None = Field(default=None)


class AuditNode(SQLModel, table=True):
    """A stored Merkle subtree hash: every complete subtree whose level is a multiple of 8.

    Together with the records' commitments (level 0) these are the tree's tiles: any node is
    at most 255 hashes away from stored ones, so proofs and roots at any size stay cheap.
    """

    __tablename__ = "audit_node"
    site_id: str = Field(primary_key=True, max_length=63)
    level: int = Field(primary_key=True)
    idx: int = Field(primary_key=True, sa_type=BigInteger)
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class AuditCheckpoint(SQLModel, table=True):
    """A signed checkpoint (C2SP tlog-checkpoint note) of a site's log at one tree size."""

    __tablename__ = "audit_checkpoint"
    site_id: str = Field(primary_key=True, max_length=63)
    size: int = Field(primary_key=True, sa_type=BigInteger)
    root: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    note: str = Field(max_length=2000)
    key: str = Field(max_length=300)  # the verifier key (public) that signed it
    created_at: datetime = Field(sa_column=utc_column(nullable=False))


class PendingRecord(SQLModel, table=True):
    """An operator record staged in the same transaction as the change it records (an outbox).

    Appended to the log (its ``detail.intent`` = ``id``) and deleted after the commit; rows a
    crash or a storage outage left behind are appended at the next start (``gateway.intents``).
    """

    __tablename__ = "pending_record"
    __table_args__ = (
        Index("ix_pending_record_site_id_id", "site_id", "id"),
        {"sqlite_autoincrement": True},  # ids are never reused: an intent id names one change
    )
    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    site_id: str = Field(max_length=63)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    record: dict[str, object] = Field(sa_column=Column(SAJSON, nullable=False))  # the NewRecord


# Core tables, for the hot paths that skip the ORM.
PERSON_TABLE = SQLModel.metadata.tables["person"]
CREDENTIAL_TABLE = SQLModel.metadata.tables["credential"]
AUTHORIZATION_TABLE = SQLModel.metadata.tables["authorization"]
RECORD_TABLE = SQLModel.metadata.tables["record"]
TRAINING_TABLE = SQLModel.metadata.tables["training_record"]
WORK_ORDER_TABLE = SQLModel.metadata.tables["work_order"]
PRESENCE_TABLE = SQLModel.metadata.tables["presence"]
DOOR_MODE_TABLE = SQLModel.metadata.tables["door_mode_state"]
AUDIT_NODE_TABLE = SQLModel.metadata.tables["audit_node"]
AUDIT_CHECKPOINT_TABLE = SQLModel.metadata.tables["audit_checkpoint"]


# --- alarms and incidents (issue 6: 4-8-7(4)(5), 4-8-11) ------------------------------------


class AlarmRow(SQLModel, table=True):
    """The working state of one alarm (the console); its history is in the record log."""

    __tablename__ = "alarm"
    __table_args__ = (Index("ix_alarm_site_closed", "site_id", "closed_at"),)
    id: str = Field(primary_key=True, max_length=32)
    site_id: str = Field(max_length=63)
    type: str = Field(max_length=48)  # gateway.alarms.catalogue type
    priority: int
    source: str = Field(max_length=160)  # e.g. "door:sr-door"
    zone_id: str | None = Field(default=None, max_length=63)
    door_id: str | None = Field(default=None, max_length=63)
    raised_at: datetime = Field(sa_column=utc_column(nullable=False))
    last_at: datetime = Field(sa_column=utc_column(nullable=False))
    count: int = 1
    condition_active: bool = True
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_by: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    note: str | None = Field(default=None, max_length=500)
    escalated: bool = False
    escalate_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class IncidentRow(SQLModel, table=True):
    """An incident (4-8-11): who opened it, what it involves, its cause and measures."""

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_site_opened", "site_id", "opened_at"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(max_length=63)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    zone_id: str | None = Field(default=None, max_length=63)
    alarm_id: str | None = Field(default=None, max_length=32)  # the alarm it was opened from
    opened_at: datetime = Field(sa_column=utc_column(nullable=False))
    opened_by: str = Field(max_length=64)
    personal_data: bool = False  # held personal information is involved (4-8-11(6)(7))
    personal_data_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    root_cause: str | None = Field(default=None, max_length=4000)
    measures: str | None = Field(default=None, max_length=4000)  # recurrence prevention
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_by: str | None = Field(default=None, max_length=64)


class IncidentStepRow(SQLModel, table=True):
    """One time-stamped step of an incident's timeline (each is also a record in the log)."""

    __tablename__ = "incident_step"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(max_length=63)
    incident_id: str = Field(foreign_key="incident.id", index=True, max_length=32)
    at: datetime = Field(sa_column=utc_column(nullable=False))
    kind: str = Field(max_length=32)  # gateway.incidents.model.StepKind
    actor: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None, max_length=4000)
    detail: dict[str, object] = Field(
        default_factory=dict, sa_column=Column(SAJSON, nullable=False)
    )


class IncidentDeadlineRow(SQLModel, table=True):
    """A legal reporting step of an incident that involves personal data, and its due time."""

    __tablename__ = "incident_deadline"
    incident_id: str = Field(foreign_key="incident.id", primary_key=True, max_length=32)
    step: str = Field(primary_key=True, max_length=63)  # e.g. "preliminary_report"
    site_id: str = Field(max_length=63)
    due_at: datetime = Field(sa_column=utc_column(nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    done_by: str | None = Field(default=None, max_length=64)
    overdue: bool = False  # the overdue record (and alarm) has been written


class MqttOutboxEntry(SQLModel, table=True):
    """An MQTT event waiting for the broker: sent in ``id`` order, then deleted.

    Not the record log (which stays append-only): a queue that survives a broker outage and a
    gateway restart, each event keeping the time it happened (``created_at``, also in its JSON).
    """

    __tablename__ = "mqtt_outbox"
    __table_args__ = (
        Index("ix_mqtt_outbox_site_id_id", "site_id", "id"),
        {"sqlite_autoincrement": True},  # ids only grow: delivery order is id order
    )
    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    site_id: str = Field(max_length=63)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    topic: str = Field(max_length=255)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # JSON


class MqttCursor(SQLModel, table=True):
    """How far a site's records have been delivered to the MQTT broker as events.

    Every record the service publishes with ``seq`` up to ``delivered_seq`` was acknowledged by
    the broker; the ones after it are read back from the record log (which holds them anyway)
    and sent in ``seq`` order. One row per site, moved forward only.
    """

    __tablename__ = "mqtt_cursor"
    site_id: str = Field(primary_key=True, max_length=63)
    delivered_seq: int = Field(sa_type=BigInteger)
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


# --- visitors, contractors and media custody (issue 5: 4-8-7(1), 4-8-5, 4-8-9, 4-8-12(2)) ---


def json_column() -> Any:
    """A NOT NULL JSON column (a fresh Column per field, as SQLAlchemy needs)."""
    return Column(SAJSON, nullable=False)


class VisitRow(SQLModel, table=True):
    """A visit: pre-registered by a host, approved per zone, checked in and out at the desk.

    Identity is kept to the document's type and the last digits of its number (no more).
    """

    __tablename__ = "visit"
    __table_args__ = (Index("ix_visit_site_from", "site_id", "valid_from"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(max_length=63)
    visitor_id: str = Field(foreign_key="person.id", index=True, max_length=32)
    host_id: str = Field(foreign_key="person.id", max_length=32)
    purpose: str = Field(max_length=500)
    zones: list[str] = Field(default_factory=list, sa_column=json_column())
    valid_from: datetime = Field(sa_column=utc_column(nullable=False))
    valid_to: datetime = Field(sa_column=utc_column(nullable=False))
    status: str = Field(max_length=16)  # gateway.visits.model.VisitStatus
    requested_by: str = Field(max_length=64)
    requested_at: datetime = Field(sa_column=utc_column(nullable=False))
    approvals: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())  # zone →
    decided_by: str | None = Field(default=None, max_length=64)  # who rejected or cancelled
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decision_note: str | None = Field(default=None, max_length=500)
    id_document_type: str | None = Field(default=None, max_length=32)
    id_document_last: str | None = Field(default=None, max_length=4)
    photo_evidence_seq: int | None = Field(default=None, sa_type=BigInteger)
    photo_sha256: str | None = Field(default=None, max_length=64)
    escort_id: str | None = Field(default=None, foreign_key="person.id", max_length=32)
    credential_id: str | None = Field(default=None, max_length=32)
    card_masked: str | None = Field(default=None, max_length=64)
    checked_in_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    checked_in_by: str | None = Field(default=None, max_length=64)
    checked_out_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    checked_out_by: str | None = Field(default=None, max_length=64)
    credential_returned: bool | None = None
    overstay_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ContractorRow(SQLModel, table=True):
    """A contractor's contract (4-8-9): company, end, confidentiality clause, inspections.

    The contract's end is ``Person.contract_end`` (the decision reads it there).
    """

    __tablename__ = "contractor"
    person_id: str = Field(foreign_key="person.id", primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    company: str = Field(max_length=200)
    contract_ref: str | None = Field(default=None, max_length=100)
    confidentiality_on_file: bool = False
    confidentiality_date: date | None = None
    last_inspection_date: date | None = None
    last_inspection_note: str | None = Field(default=None, max_length=500)
    recorded_at: datetime = Field(sa_column=utc_column(nullable=False))  # first on file
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class MediaItemRow(SQLModel, table=True):
    """An item in the media registry and where the ledger says it is now (4-8-5(6)(9))."""

    __tablename__ = "media_item"
    __table_args__ = (
        UniqueConstraint("site_id", "tag", name="uq_media_item_tag"),
        UniqueConstraint("site_id", "rfid", name="uq_media_item_rfid"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    kind: str = Field(max_length=16)  # gateway.media.model.MediaKind
    tag: str = Field(max_length=64)  # asset tag (or serial) typed or scanned at the desk
    serial: str | None = Field(default=None, max_length=64)
    rfid: str | None = Field(default=None, max_length=64)  # card key of a tag a reader reads
    description: str = Field(default="", max_length=200)
    owner_id: str | None = Field(default=None, foreign_key="person.id", max_length=32)
    classification: str = Field(max_length=16)
    encrypted: bool = False
    home_zone: str | None = Field(default=None, max_length=63)  # None: an outside item
    home_location: str | None = Field(default=None, max_length=200)  # vault shelf, safe
    state: str = Field(max_length=16)  # gateway.media.model.ItemState
    zone_id: str | None = Field(default=None, max_length=63)  # where it is on site now
    holder_id: str | None = Field(default=None, max_length=32)  # who has it while moved
    request_id: str | None = Field(default=None, max_length=32)  # the request it moved under
    due_back: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    overdue_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    registered_by: str = Field(max_length=64)
    registered_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class MediaRequestRow(SQLModel, table=True):
    """A carry-in or carry-out request for one item, decided by the zone's manager (4-8-5(4))."""

    __tablename__ = "media_request"
    __table_args__ = (Index("ix_media_request_site_item", "site_id", "item_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(max_length=63)
    item_id: str = Field(foreign_key="media_item.id", max_length=32)
    direction: str = Field(max_length=8)  # "in" (carry-in) or "out" (carry-out)
    zone_id: str = Field(max_length=63)
    person_id: str = Field(foreign_key="person.id", max_length=32)  # who carries it
    purpose: str = Field(max_length=500)
    destination: str | None = Field(default=None, max_length=200)
    return_by: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    valid_from: datetime = Field(sa_column=utc_column(nullable=False))
    valid_to: datetime = Field(sa_column=utc_column(nullable=False))
    status: str = Field(max_length=16)  # gateway.media.model.RequestStatus
    requested_by: str = Field(max_length=64)
    requested_at: datetime = Field(sa_column=utc_column(nullable=False))
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decision_note: str | None = Field(default=None, max_length=500)
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class MediaInspectionRow(SQLModel, table=True):
    """An inspection at a zone's door: what was seen, the result, and a second person's."""

    __tablename__ = "media_inspection"
    __table_args__ = (Index("ix_media_inspection_site_at", "site_id", "inspected_at"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(max_length=63)
    item_id: str | None = Field(default=None, max_length=32)  # None: the tag is not registered
    tag_seen: str = Field(max_length=64)
    direction: str = Field(max_length=8)
    zone_id: str = Field(max_length=63)
    door_id: str | None = Field(default=None, max_length=63)
    person_id: str | None = Field(default=None, max_length=32)
    request_id: str | None = Field(default=None, max_length=32)
    result: str = Field(max_length=8)  # the inspector's: "pass" or "fail"
    outcome: str = Field(max_length=24)  # gateway.media.model.InspectionOutcome
    refusal: str | None = Field(default=None, max_length=48)
    notes: str | None = Field(default=None, max_length=500)
    inspected_by: str = Field(max_length=64)
    inspected_at: datetime = Field(sa_column=utc_column(nullable=False))
    second_by: str | None = Field(default=None, max_length=64)
    second_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    second_result: str | None = Field(default=None, max_length=8)
    second_notes: str | None = Field(default=None, max_length=500)
    movement_id: str | None = Field(default=None, max_length=32)


class MediaMovementRow(SQLModel, table=True):
    """One line of the media ledger (台帳, 4-8-5(9)): written once, never changed."""

    __tablename__ = "media_movement"
    __table_args__ = (
        UniqueConstraint("site_id", "line", name="uq_media_movement_line"),
        Index("ix_media_movement_site_at", "site_id", "at"),
        Index("ix_media_movement_item_at", "item_id", "at"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(max_length=63)
    line: int = Field(sa_type=BigInteger)  # the ledger's line number: 1, 2, ... per site
    item_id: str = Field(foreign_key="media_item.id", max_length=32)
    at: datetime = Field(sa_column=utc_column(nullable=False))
    movement: str = Field(max_length=24)  # gateway.media.model.Movement
    state_from: str | None = Field(default=None, max_length=16)
    state_to: str = Field(max_length=16)
    location_from: str | None = Field(default=None, max_length=200)
    location_to: str | None = Field(default=None, max_length=200)
    zone_id: str | None = Field(default=None, max_length=63)
    person_id: str | None = Field(default=None, max_length=32)
    request_id: str | None = Field(default=None, max_length=32)
    inspection_id: str | None = Field(default=None, max_length=32)
    actor: str = Field(max_length=64)
    second_actor: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class MediaDisposalRow(SQLModel, table=True):
    """How an item was destroyed beyond recovery, and the evidence of it (4-8-5(8))."""

    __tablename__ = "media_disposal"
    item_id: str = Field(foreign_key="media_item.id", primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    method: str = Field(max_length=32)
    method_detail: str | None = Field(default=None, max_length=500)
    performed_by: str = Field(max_length=200)  # staff or the disposal contractor
    witness_id: str | None = Field(default=None, foreign_key="person.id", max_length=32)
    photo_evidence_seq: int | None = Field(default=None, sa_type=BigInteger)
    photo_sha256: str | None = Field(default=None, max_length=64)
    certificate_id: str | None = Field(default=None, max_length=32)
    certificate_sha256: str | None = Field(default=None, max_length=64)
    disposed_at: datetime = Field(sa_column=utc_column(nullable=False))
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_column=utc_column(nullable=False))


class MediaCertificateRow(SQLModel, table=True):
    """A disposal contractor's certificate file, stored as received with its SHA-256."""

    __tablename__ = "media_certificate"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(index=True, max_length=63)
    item_id: str = Field(foreign_key="media_item.id", max_length=32)
    sha256: str = Field(max_length=64)
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=100)
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    stored_by: str = Field(max_length=64)
    stored_at: datetime = Field(sa_column=utc_column(nullable=False))


class MediaInventoryRow(SQLModel, table=True):
    """A vault inventory (4-8-12(2)): items scanned, reconciled with the ledger on completion."""

    __tablename__ = "media_inventory"
    __table_args__ = (Index("ix_media_inventory_site_zone", "site_id", "zone_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(max_length=63)
    zone_id: str = Field(max_length=63)
    status: str = Field(max_length=16)  # "open" or "completed"
    started_by: str = Field(max_length=64)
    started_at: datetime = Field(sa_column=utc_column(nullable=False))
    completed_by: str | None = Field(default=None, max_length=64)
    completed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    findings: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())


class MediaInventoryScanRow(SQLModel, table=True):
    """One tag scanned (typed at the desk or read at a reader) during an inventory."""

    __tablename__ = "media_inventory_scan"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    site_id: str = Field(max_length=63)
    inventory_id: str = Field(foreign_key="media_inventory.id", index=True, max_length=32)
    at: datetime = Field(sa_column=utc_column(nullable=False))
    tag: str = Field(max_length=64)
    item_id: str | None = Field(default=None, max_length=32)  # None: no item has this tag
    source: str = Field(max_length=8)  # "typed" or "reader"
    reader_id: str | None = Field(default=None, max_length=63)
    scanned_by: str = Field(max_length=64)


class MediaInventoryPlanRow(SQLModel, table=True):
    """Working state of a zone's scheduled inventories: since when, which miss is recorded."""

    __tablename__ = "media_inventory_plan"
    site_id: str = Field(primary_key=True, max_length=63)
    zone_id: str = Field(primary_key=True, max_length=63)
    since: datetime = Field(sa_column=utc_column(nullable=False))
    missed_due: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
