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

    def occupancy(self, zone_id: str) -> list[dict[str, object]]:
        """Who is inside a zone now, in order of entry (4-8-7(1)); raises UnknownZone.

        Each occupant: ``person_id``, ``person_kind``, ``since`` (UTC), ``escorted_by`` (a
        person id or None) and ``entry_seq`` (the access record that let them in, or None).
        """

    async def set_door_mode(
        self, door_id: str, mode: DoorMode, actor: str, reason: str | None
    ) -> int:
        """Set a door's mode from the desk; returns the record's seq.

        Raises UnknownDoor, or ``gateway.door_modes.ModeRefused`` (a ValueError) when the mode
        cannot be set now (locked_down door by door, double-locking an occupied zone, a door
        held by a lockdown).
        """

    async def lockdown(self, zone_id: str, actor: str, reason: str | None) -> int:
        """Lock down every entrance of a zone (4-8-11(2)); returns the record's seq.

        Raises UnknownZone (also for a zone without doors).
        """

    async def release_lockdown(self, zone_id: str, actor: str, reason: str | None) -> int:
        """End a zone's lockdown; returns the record's seq.

        Raises UnknownZone, or ``gateway.door_modes.ModeRefused`` when it is not locked down.
        """

    async def forgive_passback(
        self, zone_id: str, person_id: str, actor: str, note: str | None
    ) -> int:
        """Reset a person's anti-passback state in a zone; returns the record's seq.

        Raises UnknownZone.
        """

    async def reload_person(self, person_id: str) -> None:
        """A person's credentials or authorizations changed: refresh the decision index."""

    async def record(self, rec: NewRecord) -> int:
        """Append a record durably; returns its seq."""

    async def record_intent(self, rec: NewRecord) -> int | None:
        """Append an operator record staged in the outbox (``gateway.intents``); its seq.

        On a storage failure the record is held and retried, and None is returned: its
        pending row stays until it is written (``detail.intent`` keeps it from being doubled).
        """

    def live(self) -> AsyncIterator[LiveUpdate]:
        """Updates for dashboards; iterate to receive, stop iterating to unsubscribe."""
