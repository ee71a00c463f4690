"""Events the core publishes on its bus for the API, dashboards and later integrations."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core_api import DoorStatus, ReaderStatus
from gateway.records import NewRecord


@dataclass(frozen=True, slots=True)
class RecordWritten:
    """A record was durably committed with ``seq``."""

    seq: int
    record: NewRecord


@dataclass(frozen=True, slots=True)
class DoorChanged:
    """A door's live status changed."""

    status: DoorStatus


@dataclass(frozen=True, slots=True)
class ReaderChanged:
    """A reader's live status changed."""

    status: ReaderStatus
