"""What the API and the dashboard may ask of the running core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.config.site import SiteConfig
from gateway.domain import AuthMode, DoorMode, DoorState
from gateway.records import NewRecord


@dataclass(frozen=True, slots=True)
class DoorStatus:
    """Live state of one door, as the desk sees it."""

    door_id: str
    name: str
    zone_id: str
    state: DoorState
    mode: DoorMode
    auth: AuthMode
    contact_open: bool | None  # None while the module is unreachable
    strike_released: bool
    since: datetime  # when the door entered ``state`` (UTC)


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    """Live state of one reader."""

    reader_id: str
    door_id: str | None
    online: bool
    secure: bool
    tamper: bool


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """A change pushed to dashboards: a new record, or a door or reader status change."""

    topic: str  # "record", "door" or "reader"
    data: dict[str, object]


class UnknownDoor(LookupError):
    """The door id names no door of this site."""


class UnknownZone(LookupError):
    """The zone id names no zone of this site."""


class DoorUnavailable(RuntimeError):
    """The door's lock cannot be driven now (its module is unreachable)."""


class AccessCore(Protocol):
    """The running gateway, as seen from the API."""

    @property
    def site(self) -> SiteConfig:
        """The loaded site file."""

    def doors(self) -> list[DoorStatus]:
        """Every door's live status, in site-file order."""

    def readers(self) -> list[ReaderStatus]:
        """Every reader's live status, in site-file order."""

    async def momentary_unlock(self, door_id: str, actor: str, note: str | None) -> int:
        """Release a door's strike for its strike time from the desk; returns the record's seq.

        Raises UnknownDoor, or DoorUnavailable while the door is in fault.
        """

    async def reload_person(self, person_id: str) -> None:
        """A person's credentials or authorizations changed: refresh the decision index."""

    async def record(self, rec: NewRecord) -> int:
        """Append a record durably; returns its seq."""

    def live(self) -> AsyncIterator[LiveUpdate]:
        """Updates for dashboards; iterate to receive, stop iterating to unsubscribe."""
