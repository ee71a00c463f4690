"""A real core around the alarm and incident services: record log, recorder, bus, store.

Nothing is mocked: records go through a real ``RecordLog`` into a migrated database (SQLite
file or PostgreSQL), committed records reach the services over the real ``Bus``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from gateway.alarms.notify import Notifier
from gateway.alarms.service import AlarmService
from gateway.bus import Bus
from gateway.clock import utcnow
from gateway.config.site import SiteConfig
from gateway.core_events import AlarmChanged, NotificationSent, RecordWritten
from gateway.incidents.service import IncidentService, Lockdown
from gateway.intents import IntentOutbox
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import Account, Record
from gateway.storage.record_log import RecordLog

SITE: dict[str, Any] = {
    "site": {"id": "hq", "name": "Head office"},
    "modules": [{"id": "io1", "port": 1502}],
    "readers": [{"id": "r1", "kind": "rdm6300", "port": "/dev/null-r1"}],
    "zones": [{"id": "srv", "name": "Server room"}, {"id": "vault", "name": "Vault"}],
    "doors": [
        {
            "id": "d1",
            "name": "Server room door",
            "zone": "srv",
            "entry_reader": "r1",
            "module": "io1",
            "strike_output": 0,
            "contact_input": 0,
        }
    ],
    "sensors": [
        {"id": "smoke1", "kind": "smoke", "zone": "srv", "module": "io1", "input": 5},
        {
            "id": "temp1",
            "kind": "temperature",
            "zone": "srv",
            "module": "io1",
            "input_register": 0,
            "scale": 0.1,
            "thresholds": {"high": 30, "low": 15, "hysteresis": 1},
        },
    ],
}


def site_config(**sections: Any) -> SiteConfig:
    """The test site, with some sections replaced or added."""
    return SiteConfig.model_validate({**SITE, **sections})


@dataclass
class Core:
    """The parts of a running core the services use."""

    engine: Engine
    site: SiteConfig
    bus: Bus
    log: RecordLog
    recorder: Recorder
    alarms: AlarmService
    incidents: IncidentService
    written: list[tuple[int, NewRecord]] = field(default_factory=list)
    changes: list[AlarmChanged] = field(default_factory=list)
    notes: list[NotificationSent] = field(default_factory=list)

    async def record(self, kind: RecordKind, **fields: Any) -> int:
        """Append a record as the core would, and wait for its commit."""
        return await self.recorder.append(NewRecord(kind, utcnow(), **fields))

    async def wait(self, cond: Callable[[], bool], what: str, within: float = 15.0) -> None:
        """Poll ``cond`` until it holds (generous for a loaded machine)."""
        deadline = time.monotonic() + within
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    def kinds(self, prefix: str = "") -> list[str]:
        """Kinds of the records committed so far, in order."""
        return [r.kind.value for _, r in self.written if r.kind.value.startswith(prefix)]

    def stored(self, kind: RecordKind) -> list[Record]:
        """Records of one kind as stored in the database, oldest first."""
        with Session(self.engine) as s:
            rows = s.exec(select(Record).where(Record.kind == kind.value).order_by(col(Record.seq)))
            return list(rows)


async def start_core(
    engine: Engine, site: SiteConfig | None = None, *, lockdown: Lockdown | None = None
) -> Core:
    """Start a record log, a recorder and both services on ``engine``."""
    site = site or site_config()
    bus = Bus()
    log = RecordLog(engine, site.site.id)
    log.start()
    recorder = Recorder(log, bus)
    intents = IntentOutbox(engine, site.site.id, recorder, bus)
    notifier = Notifier(engine, site.site.id, recorder, bus)
    alarms = AlarmService(site, engine, bus, recorder, intents=intents, notifier=notifier)
    incidents = IncidentService(
        site, engine, bus, recorder, alarms, intents=intents, notifier=notifier, lockdown=lockdown
    )
    core = Core(engine, site, bus, log, recorder, alarms, incidents)
    bus.subscribe(RecordWritten, lambda e: core.written.append((e.seq, e.record)))
    bus.subscribe(AlarmChanged, core.changes.append)
    bus.subscribe(NotificationSent, core.notes.append)
    await alarms.start()
    await incidents.start()
    return core


async def stop_core(core: Core) -> None:
    """Stop the services, write what is pending, close the log."""
    await core.incidents.stop()
    await core.alarms.stop()
    await core.recorder.close()
    await asyncio.get_running_loop().run_in_executor(None, core.log.close)


def add_account(engine: Engine, username: str, role: str, zones: list[str] | None = None) -> None:
    """An account row (no password is ever used by these tests)."""
    with Session(engine) as s:
        s.add(
            Account(
                site_id="hq", username=username, role=role, zones=zones or [], password_hash="-"
            )
        )
        s.commit()
