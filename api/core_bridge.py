"""Calls from request worker threads into the running core, always on the core's event loop.

Routes are plain functions that FastAPI runs in AnyIO worker threads (their database work and
argon2 hashing must not stall door decisions on the loop). The core is only ever touched on
its own loop: each call here hops back to it with ``anyio.from_thread``.
"""

from __future__ import annotations

from anyio import from_thread

from gateway.config.site import SiteConfig
from gateway.core_api import AccessCore, DoorStatus, ReaderStatus
from gateway.domain import DoorMode
from gateway.records import NewRecord


class CoreBridge:
    """The AccessCore seen from a worker thread: the same calls, made synchronously."""

    def __init__(self, core: AccessCore) -> None:
        """Wrap the core the app was created with."""
        self._core = core

    @property
    def core(self) -> AccessCore:
        """The wrapped core, for code that already runs on its loop."""
        return self._core

    def site(self) -> SiteConfig:
        """The loaded site file."""
        return from_thread.run_sync(lambda: self._core.site)

    def doors(self) -> list[DoorStatus]:
        """Every door's live status."""
        return from_thread.run_sync(self._core.doors)

    def readers(self) -> list[ReaderStatus]:
        """Every reader's live status."""
        return from_thread.run_sync(self._core.readers)

    def momentary_unlock(self, door_id: str, actor: str, note: str | None) -> int:
        """Release a door from the desk; returns the record's seq."""
        return from_thread.run(self._core.momentary_unlock, door_id, actor, note)

    def occupancy(self, zone_id: str) -> list[dict[str, object]]:
        """Who is inside a zone now; raises UnknownZone."""
        return from_thread.run_sync(self._core.occupancy, zone_id)

    def set_door_mode(self, door_id: str, mode: DoorMode, actor: str, reason: str | None) -> int:
        """Set a door's mode; returns the record's seq (UnknownDoor, ModeRefused)."""
        return from_thread.run(self._core.set_door_mode, door_id, mode, actor, reason)

    def lockdown(self, zone_id: str, actor: str, reason: str | None) -> int:
        """Lock a zone down; returns the record's seq (UnknownZone)."""
        return from_thread.run(self._core.lockdown, zone_id, actor, reason)

    def release_lockdown(self, zone_id: str, actor: str, reason: str | None) -> int:
        """End a zone's lockdown; returns the record's seq (UnknownZone, ModeRefused)."""
        return from_thread.run(self._core.release_lockdown, zone_id, actor, reason)

    def forgive_passback(self, zone_id: str, person_id: str, actor: str, note: str | None) -> int:
        """Reset a person's passback state in a zone; returns the record's seq (UnknownZone)."""
        return from_thread.run(self._core.forgive_passback, zone_id, person_id, actor, note)

    def reload_person(self, person_id: str) -> None:
        """Tell the core that a person's master data changed."""
        from_thread.run(self._core.reload_person, person_id)

    def record(self, rec: NewRecord) -> int:
        """Append a record durably; returns its seq."""
        return from_thread.run(self._core.record, rec)

    def record_intent(self, rec: NewRecord) -> int | None:
        """Append a staged operator record; its seq, or None when held for retry."""
        return from_thread.run(self._core.record_intent, rec)
