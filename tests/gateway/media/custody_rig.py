"""A real Gateway (no devices) with the custody services on a migrated store, and a clock.

Nothing is mocked: records go through the gateway's record log into the database (SQLite file
or PostgreSQL), the decision index is the gateway's own, committed records reach the services
over the real bus. The clock is the gateway's and the services' ``clock`` input, moved by the
tests instead of sleeping.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from gateway.alarms.stack import AlarmStack
from gateway.config.site import SiteConfig
from gateway.core_events import RecordWritten
from gateway.custody import Actor
from gateway.custody_stack import CustodyStack
from gateway.domain import PersonKind
from gateway.door import Passage
from gateway.records import NewRecord, RecordKind
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import Authorization, Person, Record

SITE: dict[str, Any] = {
    "site": {"id": "hq", "name": "Head office", "timezone": "Asia/Tokyo"},
    "modules": [{"id": "io1", "port": 1502}],
    "readers": [
        {"id": "r-srv", "kind": "rdm6300", "port": "/dev/null-srv"},
        {"id": "r-vault", "kind": "rdm6300", "port": "/dev/null-vault"},
        {"id": "r-desk", "kind": "rdm6300", "port": "/dev/null-desk"},
    ],
    "zones": [
        {"id": "srv", "name": "Server room"},
        {
            "id": "vault",
            "name": "Media vault",
            "kind": "media_vault",
            "media": {
                "encryption_required": True,
                "second_person_inspection": True,
                "inventory_every_days": 30,
                "inventory_grace_days": 2,
                "scan_readers": ["r-desk"],
            },
        },
    ],
    "doors": [
        {
            "id": "d-srv",
            "name": "Server room door",
            "zone": "srv",
            "entry_reader": "r-srv",
            "module": "io1",
            "strike_output": 0,
            "contact_input": 0,
        },
        {
            "id": "d-vault",
            "name": "Vault door",
            "zone": "vault",
            "entry_reader": "r-vault",
            "module": "io1",
            "strike_output": 1,
            "contact_input": 1,
        },
    ],
    "custody": {
        "check_every_s": 3600,  # the tests run the checks themselves
        "visitors": {
            "card_pools": [{"format": "H10301", "facility": 50, "first": 1, "last": 99}],
            "overstay_grace_s": 60,
        },
        "media": {"exit_grace_s": 0.3},
        "contractor_inspection_days": 365,
    },
}

START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # a Monday, 09:00 in Tokyo


class Clock:
    """The time the gateway and the services see; tests move it."""

    def __init__(self, now: datetime = START) -> None:
        """Start at ``now``."""
        self.now = now

    def __call__(self) -> datetime:
        """The time now."""
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward."""
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Rig:
    """The running gateway, its custody services, the clock and what was recorded."""

    engine: Engine
    gateway: Gateway
    custody: CustodyStack
    clock: Clock
    alarms: AlarmStack | None = None
    written: list[tuple[int, NewRecord]] = field(default_factory=list)

    def add_person(
        self,
        name: str,
        kind: PersonKind = PersonKind.STAFF,
        *,
        zones: tuple[str, ...] = (),
        organisation: str | None = None,
    ) -> str:
        """A person (with standing authorizations to ``zones``); returns the id."""
        with Session(self.engine) as s:
            p = Person(site_id="hq", kind=kind, name=name, organisation=organisation)
            s.add(p)
            s.flush()
            for z in zones:
                s.add(Authorization(site_id="hq", person_id=p.id, zone_id=z, granted_by="setup"))
            s.commit()
            return p.id

    def records(self, kind: RecordKind) -> list[NewRecord]:
        """Committed records of one kind, oldest first."""
        return [r for _, r in self.written if r.kind is kind]

    def stored(self, kind: RecordKind) -> list[Record]:
        """Records of one kind as stored in the database, oldest first."""
        with Session(self.engine) as s:
            rows = s.exec(select(Record).where(Record.kind == kind.value).order_by(col(Record.seq)))
            return list(rows)

    async def wait(self, cond: Callable[[], bool], what: str, within: float = 15.0) -> None:
        """Poll ``cond`` until it holds (generous for a loaded machine)."""
        deadline = time.monotonic() + within
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    def pass_door(
        self, zone: str, person_id: str, direction: str, *, escort: str | None = None
    ) -> None:
        """A passage through a door of ``zone`` as the door reports it (occupancy follows)."""
        door = "d-srv" if zone == "srv" else "d-vault"
        p = Passage(0, person_id, None, None, direction, escort)
        self.gateway.zones.passed(zone, door, p)


def actor(username: str, role: str, person_id: str | None = None, *zones: str) -> Actor:
    """An acting account."""
    return Actor(username, role, person_id, tuple(zones))


def sqlite_engine(folder: Path) -> Engine:
    """A migrated SQLite store in ``folder`` (for tests whose storage both backends share)."""
    engine = make_engine(sqlite_path=folder / "sekisho.db")
    upgrade(engine)
    return engine


async def start_rig(
    engine: Engine, *, alarms: bool = False, patch: Callable[[dict[str, Any]], None] | None = None
) -> Rig:
    """Start a gateway with no devices, the custody stack (and the alarm stack if asked)."""
    raw: dict[str, Any] = copy.deepcopy(SITE)
    if patch is not None:
        patch(raw)
    site = SiteConfig.model_validate(raw)
    clock = Clock()
    gateway = Gateway(site, engine, clock=clock)
    custody = CustodyStack.attach(gateway, engine, clock=clock)
    rig = Rig(engine, gateway, custody, clock)
    gateway.bus.subscribe(RecordWritten, lambda e: rig.written.append((e.seq, e.record)))
    if alarms:
        rig.alarms = AlarmStack.attach(gateway, engine, clock=clock)
        await rig.alarms.start()
    await custody.start()
    await gateway.start()
    return rig


async def stop_rig(rig: Rig) -> None:
    """Stop the services, then the gateway (which closes its record log)."""
    await rig.custody.stop()
    if rig.alarms is not None:
        await rig.alarms.stop()
    await rig.gateway.stop()
