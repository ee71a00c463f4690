"""Wiring of issue 5 onto a running Gateway: visits, contractors and media custody.

The composition root (``sekisho``) and tests build one ``CustodyStack`` per Gateway, start it
with the gateway (before it, so that the exit watcher sees the first passages) and stop it
before the gateway (while the record log still takes records). A periodic job runs every
``custody.check_every_s``: overstays (4-8-7(1)), overdue media (4-8-5(6)), missed inventories
(4-8-12(2)) and contractor findings (4-8-9(3)); ``run_checks`` runs one round at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from gateway.clock import utcnow
from gateway.contractors import ContractorService, Finding
from gateway.media.door import MediaDesk
from gateway.media.inventory import MediaInventory
from gateway.media.registry import MediaRegistry
from gateway.media.store import MediaContext
from gateway.media.watch import MediaWatch
from gateway.runtime import Gateway
from gateway.visits.service import VisitService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MediaServices:
    """The media custody services, sharing one context (and one lock)."""

    registry: MediaRegistry
    desk: MediaDesk
    inventory: MediaInventory
    watch: MediaWatch


@dataclass(frozen=True, slots=True)
class CheckRound:
    """What one round of the periodic checks recorded."""

    overstays: list[str]  # visit ids
    overdue: list[str]  # item ids
    missed_inventories: list[str]  # zone ids
    contractor_findings: list[Finding]


class CustodyStack:
    """Visits, contractors and media custody of one site, and their periodic checks."""

    def __init__(
        self,
        visits: VisitService,
        contractors: ContractorService,
        media: MediaServices,
        check_every_s: float,
    ) -> None:
        """Hold the services; ``check_every_s`` paces the periodic checks."""
        self.visits = visits
        self.contractors = contractors
        self.media = media
        self._every = check_every_s
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def attach(
        cls, gateway: Gateway, engine: Engine, *, clock: Callable[[], datetime] = utcnow
    ) -> CustodyStack:
        """Build the services on ``gateway``'s log, bus, index and occupancy."""
        site = gateway.site
        visits = VisitService(
            site,
            engine,
            gateway.intents,
            reload_person=gateway.reload_person,
            occupancy=gateway.occupancy,
            clock=clock,
        )
        contractors = ContractorService(
            site,
            engine,
            gateway.recorder,
            intents=gateway.intents,
            reload_person=gateway.reload_person,
            clock=clock,
        )
        ctx = MediaContext(site, engine, gateway.recorder, gateway.intents, clock)
        inventory = MediaInventory(ctx, lambda key: gateway.index.lookup(key) is not None)
        gateway.device_taps.append(inventory.on_device_event)
        media = MediaServices(
            MediaRegistry(ctx),
            MediaDesk(ctx),
            inventory,
            MediaWatch(ctx, gateway.bus, gateway.occupancy),
        )
        return cls(visits, contractors, media, site.custody.check_every_s)

    async def start(self) -> None:
        """Find open inventories, follow exits, start the periodic checks."""
        await self.media.inventory.load()
        self.media.watch.start()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._periodic())

    async def stop(self) -> None:
        """Stop the checks and the watcher."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.media.watch.stop()
        await self.media.inventory.stop()

    async def run_checks(self) -> CheckRound:
        """One round of the periodic checks, now."""
        return CheckRound(
            overstays=await self.visits.check_overstays(),
            overdue=await self.media.watch.check_overdue(),
            missed_inventories=await self.media.inventory.check_missed(),
            contractor_findings=await self.contractors.check(),
        )

    async def _periodic(self) -> None:
        """Run the checks every ``check_every_s`` until cancelled."""
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.run_checks()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round tries again; the log says why
                log.exception("custody checks failed")
