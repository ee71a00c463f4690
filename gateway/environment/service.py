"""Environment sensors: module inputs and registers in, sensor states and records out (4-8-7(5)).

The runtime hands every device event to ``on_device_event`` (a tap beside the door logic).
Digital inputs and input registers that the site file maps to sensors are decoded
(``gateway.environment.decode``); each change of state or value is published as a
``SensorChanged``, and each change of state is written as a ``sensor.state`` record, which
the alarm catalogue turns into alarms. A module going offline makes its sensors UNAVAILABLE
(published, not recorded: ``module.offline`` says it); what the sensor reads when the module
is back is recorded only if it differs from what was last recorded.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from gateway.alarms.notify import write
from gateway.bus import Bus
from gateway.clock import utcnow
from gateway.config.site import SiteConfig
from gateway.core_events import SensorChanged
from gateway.environment.config import SensorConfig
from gateway.environment.decode import decode_input, decode_register
from gateway.environment.model import SensorState, SensorStatus
from gateway.events import DeviceEvent, InputChanged, ModuleLink, RegisterChanged
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind

log = logging.getLogger(__name__)


class UnknownSensor(LookupError):
    """The id names no sensor of this site."""


class EnvironmentService:
    """Live state of a site's environment and intrusion sensors."""

    def __init__(
        self,
        site: SiteConfig,
        bus: Bus,
        recorder: Recorder,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Index the site file's sensors by their module points."""
        self._bus = bus
        self._recorder = recorder
        self._clock = clock
        self._cfg: dict[str, SensorConfig] = {s.id: s for s in site.sensors}
        self._by_input: dict[tuple[str, int], SensorConfig] = {}
        self._by_register: dict[tuple[str, int], SensorConfig] = {}
        self._by_module: dict[str, list[SensorConfig]] = defaultdict(list)
        self._status: dict[str, SensorStatus] = {}
        self._recorded: dict[str, SensorState] = {}  # last state written to the log
        for s in site.sensors:
            if s.input is not None:
                self._by_input[(s.module, s.input)] = s
            if s.input_register is not None:
                self._by_register[(s.module, s.input_register)] = s
            self._by_module[s.module].append(s)
            self._status[s.id] = SensorStatus(
                s.id, s.name or s.id, s.kind, s.zone, SensorState.UNAVAILABLE, None,
                s.shown_unit, None,
            )  # fmt: skip
            self._recorded[s.id] = SensorState.NORMAL  # assumed until a reading says otherwise

    def sensors(self) -> list[SensorStatus]:
        """Every sensor's live status, in site-file order."""
        return list(self._status.values())

    def sensor(self, sensor_id: str) -> SensorStatus:
        """One sensor's live status; UnknownSensor when there is none."""
        try:
            return self._status[sensor_id]
        except KeyError:
            raise UnknownSensor(sensor_id) from None

    def on_device_event(self, event: DeviceEvent) -> None:
        """Take one device event; never raises (a bug here must not stop the badge path)."""
        try:
            if isinstance(event, InputChanged):
                cfg = self._by_input.get((event.module_id, event.point))
                if cfg is not None:
                    self._update(cfg, decode_input(cfg, event.active), None)
            elif isinstance(event, RegisterChanged):
                cfg = self._by_register.get((event.module_id, event.register))
                if cfg is not None:
                    previous = self._status[cfg.id].state
                    state, value = decode_register(cfg, event.value, previous)
                    self._update(cfg, state, value)
            elif isinstance(event, ModuleLink) and not event.online:
                for cfg in self._by_module.get(event.module_id, ()):
                    self._update(cfg, SensorState.UNAVAILABLE, None)
        except Exception:  # logged; the next reading is decoded afresh
            log.exception("environment: cannot handle %r", event)

    def _update(self, cfg: SensorConfig, state: SensorState, value: float | None) -> None:
        """Publish a change of state or value; record a change of state."""
        old = self._status[cfg.id]
        if old.state is state and old.value == value:
            return
        now = self._clock()
        new = replace(
            old, state=state, value=value, since=now if state is not old.state else old.since
        )
        self._status[cfg.id] = new
        self._bus.publish(
            SensorChanged(cfg.id, cfg.kind, state, value, new.unit, cfg.zone, new.name)
        )
        previous = self._recorded[cfg.id]
        if state is SensorState.UNAVAILABLE or state is previous:
            return
        self._recorded[cfg.id] = state
        detail: dict[str, object] = {
            "sensor": cfg.id,
            "sensor_kind": cfg.kind.value,
            "state": state.value,
            "previous": previous.value,
            "module": cfg.module,
        }
        if value is not None:
            detail["value"] = value
            detail["unit"] = new.unit
        write(
            self._recorder, NewRecord(RecordKind.SENSOR_STATE, now, zone_id=cfg.zone, detail=detail)
        )
