"""Wiring of issue 6 onto a running Gateway: environment sensors → alarms → incidents.

The composition root (``sekisho``) and tests build one ``AlarmStack`` per Gateway, start it
BEFORE the gateway (so the first records are seen and restored alarms are in place) and stop
it BEFORE the gateway (while the record log still takes records).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from gateway.alarms.notify import Notifier
from gateway.alarms.service import AlarmService
from gateway.clock import utcnow
from gateway.environment.service import EnvironmentService
from gateway.incidents.service import IncidentService
from gateway.runtime import Gateway


@dataclass(frozen=True, slots=True)
class AlarmStack:
    """The alarm console, the environment sensors and the incidents of one site."""

    alarms: AlarmService
    environment: EnvironmentService
    incidents: IncidentService

    @classmethod
    def attach(
        cls, gateway: Gateway, engine: Engine, *, clock: Callable[[], datetime] = utcnow
    ) -> AlarmStack:
        """Build the services on ``gateway``'s bus and log; sensors see its device events."""
        site = gateway.site
        notifier = Notifier(engine, site.site.id, gateway.recorder, gateway.bus, clock)
        alarms = AlarmService(
            site,
            engine,
            gateway.bus,
            gateway.recorder,
            intents=gateway.intents,
            notifier=notifier,
            clock=clock,
        )
        environment = EnvironmentService(site, gateway.bus, gateway.recorder, clock=clock)
        gateway.device_taps.append(environment.on_device_event)
        incidents = IncidentService(
            site,
            engine,
            gateway.bus,
            gateway.recorder,
            alarms,
            intents=gateway.intents,
            notifier=notifier,
            lockdown=getattr(gateway, "lockdown", None),  # issue 3's zone lockdown, if present
            clock=clock,
        )
        return cls(alarms, environment, incidents)

    async def start(self) -> None:
        """Restore open alarms and pending incident deadlines."""
        await self.alarms.start()
        await self.incidents.start()

    async def stop(self) -> None:
        """Stop timers and finish table writes."""
        await self.incidents.stop()
        await self.alarms.stop()
