"""What visitors, contractors and media custody share: who acts, typed refusals, store work.

The services (``gateway.visits``, ``gateway.contractors``, ``gateway.media``) run on the core's
event loop; their blocking database work runs in worker threads through ``in_thread``. Each
refusal is a typed error the API maps to a status: ``NotFound`` 404, ``NotAllowed`` 403,
``Refused`` 409, ``Invalid`` 422.

A step that changes data stages its records in the change's own transaction (``stage``, then
``gateway.intents.commit``) and writes them after the commit through the gateway's
``IntentOutbox`` (``write_all``): a crash in between leaves them to the next start, never lost.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeVar, Unpack

from sqlalchemy import Engine
from sqlmodel import Session

from gateway import intents
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import Person

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the account's username and role, its person, and the zones it manages."""

    username: str
    role: str
    person_id: str | None = None
    zones: tuple[str, ...] = ()

    def is_person(self, person_id: str | None) -> bool:
        """True when ``person_id`` is the actor's own person (separation of duties, 4-8-6(6))."""
        return person_id is not None and self.person_id == person_id

    def manages(self, zone_id: str) -> bool:
        """True when the actor is a manager of ``zone_id``."""
        return self.role == "manager" and zone_id in self.zones


class CustodyError(Exception):
    """Base of the refusals of visits, contractors and media custody."""


class NotFound(CustodyError):
    """No such visit, item, request, inspection, inventory or person on this site."""


class NotAllowed(CustodyError):
    """The actor may not do this (not the zone's manager, or approving their own request)."""


class Refused(CustodyError):
    """The request clashes with the current state or a rule of the zone."""


class Invalid(CustodyError):
    """An input is not acceptable; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        """Name the invalid field and say what is wrong with it."""
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking store work in a worker thread and return its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))


def session(engine: Engine) -> Session:
    """A session whose objects stay readable after commit."""
    return Session(engine, expire_on_commit=False)


def aware(value: datetime | None) -> datetime | None:
    """A timezone-aware UTC datetime (rows read back from SQLite are already aware)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_person(s: Session, site_id: str, person_id: str, what: str = "person") -> Person:
    """The site's person with this id; NotFound otherwise."""
    person = s.get(Person, person_id)
    if person is None or person.site_id != site_id:
        raise NotFound(f"no such {what}")
    return person


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC text of a datetime (for records' details)."""
    v = aware(value)
    return None if v is None else v.isoformat()


class RecordFields(TypedDict, total=False):
    """The optional fields of a step's record (``person`` or its id and kind)."""

    actor: Actor | str | None
    person: Person | None
    person_id: str | None
    person_kind: str | None
    zone_id: str | None
    door_id: str | None
    credential: str | None
    detail: dict[str, object] | None


def new_record(kind: RecordKind, ts: datetime, **f: Unpack[RecordFields]) -> NewRecord:
    """One record of a step (``person`` or its id and kind; ``actor`` or its username)."""
    actor, person = f.get("actor"), f.get("person")
    return NewRecord(
        kind,
        ts,
        door_id=f.get("door_id"),
        zone_id=f.get("zone_id"),
        person_id=person.id if person is not None else f.get("person_id"),
        person_kind=person.kind.value if person is not None else f.get("person_kind"),
        credential=f.get("credential"),
        actor=actor.username if isinstance(actor, Actor) else actor,
        detail=dict(f.get("detail") or {}),
    )


async def write(
    recorder: Recorder, kind: RecordKind, ts: datetime, **f: Unpack[RecordFields]
) -> int:
    """Append a record of no data change durably and return its seq (see ``new_record``)."""
    return await recorder.append(new_record(kind, ts, **f))


def stage(
    s: Session, site_id: str, kind: RecordKind, ts: datetime, **f: Unpack[RecordFields]
) -> None:
    """Stage the record of a change in the change's session, before its commit (outbox)."""
    intents.stage(s, site_id, new_record(kind, ts, **f))
