"""A whole simulated site in one event loop: firmware-sim devices, real drivers, the gateway.

Used by the end-to-end tests and the benchmarks; the demo runs the simulator as its own process.

Everything crosses a real wire: OSDP with Secure Channel over a pty, Modbus TCP on 127.0.0.1,
RDM6300 frames over a pty; records go to a real SQLite file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from devices.mqtt.from_site import build_link
from gateway.alarms.stack import AlarmStack
from gateway.cameras.service import CameraService
from gateway.clock import utcnow
from gateway.config.site import WEEKDAYS, SiteConfig
from gateway.core_events import RecordWritten
from gateway.custody_stack import CustodyStack
from gateway.domain import CardId, CredentialStatus, DoorState, PersonKind
from gateway.hashing import hash_secret
from gateway.mqtt.service import MqttService
from gateway.records import NewRecord, RecordKind
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import (
    Authorization,
    Credential,
    Person,
    TrainingRecord,
    WorkOrder,
)
from sekisho import demo_site
from sekisho.cameras import attach_cameras
from sekisho.drivers import build_modules, build_readers
from sekisho.secret_files import create_scbk
from sekisho_sim.site import SimSite
from sekisho_sim.spec import SimSpec

# Short timings so that alarms come within a test's patience.
FAST_DOORS = {"strike_time_s": 2.0, "held_open_s": 4.0, "prealarm_s": 2.0}


@dataclass
class SimulatedSite:
    """The running site and helpers to act on it and observe it."""

    sim: SimSite
    gateway: Gateway
    config: SiteConfig
    engine: Any
    data_dir: Path
    written: list[tuple[int, NewRecord]] = field(default_factory=list)
    stack: AlarmStack | None = None  # alarms, environment sensors, incidents (issue 6)
    mqtt: MqttService | None = None  # when the (patched) site file has an mqtt: section
    cameras: CameraService | None = None  # issue 7: with ``cameras=True``
    custody: CustodyStack | None = None  # issue 5: visits, contractors, media custody

    async def wait_record(
        self, pred: Callable[[NewRecord], bool], within: float = 10.0, after: int = 0
    ) -> tuple[int, NewRecord]:
        """The first committed record with seq > ``after`` that satisfies ``pred``."""
        deadline = time.monotonic() + within
        while True:
            for seq, rec in self.written:
                if seq > after and pred(rec):
                    return seq, rec
            if time.monotonic() > deadline:
                kinds = [(s, r.kind.value, r.reason) for s, r in self.written[-15:]]
                raise AssertionError(f"no matching record within {within} s; last: {kinds}")
            await asyncio.sleep(0.02)

    async def wait_until(
        self, cond: Callable[[], bool], within: float = 10.0, what: str = ""
    ) -> None:
        """Poll ``cond`` until it holds."""
        deadline = time.monotonic() + within
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or cond}")
            await asyncio.sleep(0.02)

    @property
    def last_seq(self) -> int:
        """Seq of the newest committed record seen (0 if none)."""
        return self.written[-1][0] if self.written else 0

    def door_state(self, door_id: str) -> DoorState:
        """The gateway's view of a door."""
        return next(d.state for d in self.gateway.doors() if d.door_id == door_id)

    def reader(self, reader_id: str) -> Any:
        """The gateway's view of a reader."""
        return next(r for r in self.gateway.readers() if r.reader_id == reader_id)

    async def add_person(
        self,
        name: str,
        card: str,
        *,
        kind: PersonKind = PersonKind.STAFF,
        pin: str | None = None,
        zones: tuple[tuple[str, str], ...] = (("server-room", "always"),),
        status: CredentialStatus = CredentialStatus.ENABLED,
        enabled: bool = True,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        contract_end: datetime | None = None,
        duress_pin: str | None = None,
        supervisor: bool = False,
        purpose: str | None = "routine operations",
        granted_at: datetime | None = None,
    ) -> str:
        """Create a person with one credential and authorizations, and load them into the index."""
        site_id = self.config.site.id
        cid = CardId.parse(card)
        with Session(self.engine) as s:
            person = Person(
                site_id=site_id, kind=kind, name=name, enabled=enabled, contract_end=contract_end
            )
            s.add(person)
            s.flush()
            s.add(
                Credential(
                    site_id=site_id,
                    person_id=person.id,
                    format=cid.format,
                    facility=cid.facility,
                    number=cid.number,
                    card_key=cid.key,
                    pin_hash=hash_secret(pin) if pin else None,
                    duress_pin_hash=hash_secret(duress_pin) if duress_pin else None,
                    status=status,
                    valid_from=valid_from,
                    valid_to=valid_to,
                )
            )
            for zone, schedule in zones:
                auth = Authorization(
                    site_id=site_id,
                    person_id=person.id,
                    zone_id=zone,
                    schedule_id=schedule,
                    granted_by="test",
                    purpose=purpose,
                    supervisor=supervisor,
                )
                if granted_at is not None:
                    auth.granted_at = granted_at
                s.add(auth)
            s.commit()
            pid = person.id
        await self.gateway.reload_person(pid)
        return pid

    async def add_training(
        self, person_id: str, course: str, valid_until: datetime | None = None
    ) -> None:
        """Record a completed training for a person and refresh the index."""
        with Session(self.engine) as s:
            s.add(
                TrainingRecord(
                    site_id=self.config.site.id,
                    person_id=person_id,
                    course=course,
                    completed_at=datetime.now(UTC),
                    valid_until=valid_until,
                    recorded_by="test",
                )
            )
            s.commit()
        await self.gateway.reload_person(person_id)

    async def add_work_order(
        self,
        person_id: str,
        zone_id: str,
        purpose: str,
        *,
        valid_from: datetime,
        valid_to: datetime,
        status: str = "approved",
    ) -> str:
        """Store a work order (approved by default) and refresh the index."""
        with Session(self.engine) as s:
            order = WorkOrder(
                site_id=self.config.site.id,
                person_id=person_id,
                zone_id=zone_id,
                purpose=purpose,
                valid_from=valid_from,
                valid_to=valid_to,
                status=status,
                requested_by="test",
                decided_by="manager" if status == "approved" else None,
            )
            s.add(order)
            s.commit()
            oid = order.id
        await self.gateway.reload_person(person_id)
        return oid

    def inside(self, zone_id: str) -> list[str]:
        """Person ids inside a zone, in order of entry."""
        return [str(o["person_id"]) for o in self.gateway.occupancy(zone_id)]

    async def badge(self, reader: str, card: str, pin: str | None = None) -> tuple[int, NewRecord]:
        """Badge at a reader and return the access decision record it produced."""
        after = self.last_seq
        await self.sim.badge(reader, card, pin)
        return await self.wait_record(
            lambda r: r.kind is RecordKind.ACCESS and r.reader_id == reader,
            after=after,
            within=15.0,
        )


def prepare(data_dir: Path, *, camera: bool = False) -> SimSpec:
    """Write keys and return the sim spec of the demo site under ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for reader in ("sr-in", "sr-out"):
        create_scbk(data_dir / "keys" / f"{reader}.scbk")
    return SimSpec.model_validate(demo_site.sim_spec(data_dir, camera=camera))


async def start_simulated_site(
    data_dir: Path,
    *,
    doors: dict[str, Any] | None = None,
    site_patch: Callable[[dict[str, Any]], None] | None = None,
    cameras: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> SimulatedSite:
    """Start the demo site's simulated devices and a gateway with real drivers on them.

    With ``cameras`` the simulated door camera runs too, and the gateway reads and analyses
    it (``h.cameras``); ``site_patch`` sees its entry under ``cameras:``.
    """
    spec = prepare(data_dir, camera=cameras)
    sim = SimSite(spec)
    await sim.start()
    raw = demo_site.site_file(data_dir, sim.module_port("io1"))
    if cameras:
        raw["cameras"] = [demo_site.camera_config(sim.camera_url(demo_site.CAMERA_ID))]
    for d in raw["doors"]:
        d.update(FAST_DOORS if doors is None else doors)
    raw["pin"]["entry_timeout_s"] = 3
    # A schedule that admits only a day three days from today (site time): never now.
    other = WEEKDAYS[(datetime.now(ZoneInfo(raw["site"]["timezone"])).weekday() + 3) % 7]
    raw["schedules"].append({"id": "not-today", "week": {other: ["00:00-24:00"]}})
    if site_patch is not None:
        site_patch(raw)
    config = SiteConfig.model_validate(raw)
    engine = make_engine(sqlite_path=data_dir / "sekisho.db")
    upgrade(engine)
    gateway = Gateway(
        config,
        engine,
        readers=build_readers(config, data_dir),
        modules=build_modules(config),
        clock=clock,  # the decision's clock: tests move it (contracts ending mid-week)
    )
    h = SimulatedSite(sim, gateway, config, engine, data_dir)
    gateway.bus.subscribe(RecordWritten, lambda e: h.written.append((e.seq, e.record)))
    h.stack = AlarmStack.attach(gateway, engine)
    if config.mqtt is not None and config.mqtt.enabled:
        link = build_link(config.mqtt, config.site.id, data_dir)
        h.mqtt = MqttService(gateway, engine, link, alarms=h.stack.alarms, zones=gateway)
        await h.mqtt.start()
    await h.stack.start()
    h.custody = CustodyStack.attach(gateway, engine, clock=clock)
    await h.custody.start()
    await gateway.start()
    if cameras:
        h.cameras = attach_cameras(gateway, engine, base=data_dir, data_dir=data_dir)
        assert h.cameras is not None  # the camera entry was added above
        await h.cameras.start()
    await h.wait_until(
        lambda: all(r.online and r.secure for r in gateway.readers() if r.reader_id != "vault-in"),
        within=20,
        what="OSDP readers online with Secure Channel",
    )
    await h.wait_until(
        lambda: all(d.state is DoorState.LOCKED for d in gateway.doors()),
        within=20,
        what="doors locked",
    )
    return h


async def stop_simulated_site(h: SimulatedSite) -> None:
    """Stop the cameras, the alarm stack, the gateway, then the devices."""
    if h.cameras is not None:
        await h.cameras.stop()
    if h.custody is not None:
        await h.custody.stop()
    if h.stack is not None:
        await h.stack.stop()
    await h.gateway.stop()
    if h.mqtt is not None:
        await h.mqtt.stop()
    await h.sim.stop()
    h.engine.dispose()
