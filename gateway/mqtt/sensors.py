"""MQTT sensors (zigbee2mqtt-style JSON) as environment inputs (4-8-7(5)).

A payload such as ``{"water_leak": true}`` or ``{"temperature": 24.5}`` becomes a sensor state
(NORMAL/ALARM, or HIGH/LOW against thresholds with hysteresis). Anything else is handled, never
raised: a payload that is not JSON, not an object, too large or of the wrong type puts the
sensor in FAULT; a sensor silent past its interval is in FAULT too; while the broker link is down
every MQTT sensor is UNAVAILABLE. A payload without the sensor's key (a battery report, say) is
only a sign of life.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.environment.decode import decode_threshold
from gateway.environment.model import SensorState
from gateway.mqtt.config import MqttSensorConfig

MAX_PAYLOAD = 8192  # bytes; zigbee2mqtt device states are a few hundred


class JunkPayload(ValueError):
    """A sensor payload that cannot be read; the message says why (no payload content)."""


@dataclass(frozen=True, slots=True)
class SensorUpdate:
    """A sensor's new state or value, to record (state changes) and publish (both)."""

    cfg: MqttSensorConfig
    state: SensorState
    value: float | None
    state_changed: bool
    fault: str | None  # why it is in FAULT (junk, silent), else None
    junk_count: int  # junk payloads seen since the last good one


def read_value(cfg: MqttSensorConfig, payload: bytes) -> bool | float | None:
    """The sensor's reading in ``payload``; None when the key is absent; JunkPayload if unusable."""
    if len(payload) > MAX_PAYLOAD:
        raise JunkPayload(f"payload of {len(payload)} bytes (limit {MAX_PAYLOAD})")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise JunkPayload("not JSON") from None
    if not isinstance(data, dict):
        raise JunkPayload(f"JSON {type(data).__name__}, not an object")
    if cfg.json_key not in data:
        return None
    raw = data[cfg.json_key]
    if cfg.kind.analog:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise JunkPayload(f"{cfg.json_key} is not a finite number")
        return float(raw)
    if not isinstance(raw, bool):
        raise JunkPayload(f"{cfg.json_key} is not true/false")
    return raw


def decide(cfg: MqttSensorConfig, value: bool | float, previous: SensorState | None) -> SensorState:
    """The state a good reading puts the sensor in."""
    if isinstance(value, bool):
        return SensorState.ALARM if value else SensorState.NORMAL
    if (cfg.valid_min is not None and value < cfg.valid_min) or (
        cfg.valid_max is not None and value > cfg.valid_max
    ):
        return SensorState.FAULT
    if cfg.thresholds is None:
        return SensorState.NORMAL
    before = previous if previous in (SensorState.HIGH, SensorState.LOW) else None
    return decode_threshold(cfg.thresholds, value, before)


class _Sensor:
    """Working state of one sensor."""

    def __init__(self, cfg: MqttSensorConfig, now: float) -> None:
        """No reading yet; seen ``now`` (silence is counted from there)."""
        self.cfg = cfg
        self.state: SensorState | None = None  # None until the first reading
        self.value: float | None = None
        self.junk = 0  # junk payloads since the last good one
        self.last_seen = now

    def move(self, state: SensorState, value: float | None, fault: str | None) -> SensorUpdate:
        """Take a new state and value; the update says whether the state changed."""
        changed = state is not self.state
        self.state, self.value = state, value
        return SensorUpdate(self.cfg, state, value, changed, fault, self.junk)


class SensorWatch:
    """Every MQTT sensor of the site: readings in, updates out; time is ``loop.time()``."""

    def __init__(self, sensors: Sequence[MqttSensorConfig], now: float) -> None:
        """Index the sensors by topic; the link counts as down until link_up()."""
        self._sensors = [_Sensor(cfg, now) for cfg in sensors]
        self._by_topic: dict[str, list[_Sensor]] = {}
        for s in self._sensors:
            self._by_topic.setdefault(s.cfg.topic, []).append(s)
        self._linked = False

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics to subscribe to."""
        return tuple(self._by_topic)

    def state(self, sensor_id: str) -> SensorState | None:
        """A sensor's current state (None before its first reading)."""
        return next((s.state for s in self._sensors if s.cfg.id == sensor_id), None)

    def on_message(self, topic: str, payload: bytes, now: float) -> list[SensorUpdate]:
        """A message on a sensor topic: the updates it causes (state or value changes)."""
        out: list[SensorUpdate] = []
        for s in self._by_topic.get(topic, ()):
            s.last_seen = now
            try:
                value = read_value(s.cfg, payload)
            except JunkPayload as exc:
                s.junk += 1
                if s.state is not SensorState.FAULT:  # already in fault: counted, not repeated
                    out.append(s.move(SensorState.FAULT, None, f"junk payload: {exc}"))
                continue
            if value is None:
                continue  # a sign of life without a reading (battery, link quality ...)
            number = None if isinstance(value, bool) else value
            state = decide(s.cfg, value, s.state)
            if state is not s.state or number != s.value:
                out.append(s.move(state, number, None))
            s.junk = 0
        return out

    def check_silence(self, now: float) -> list[SensorUpdate]:
        """Sensors silent past their interval (while the link is up) go to FAULT."""
        if not self._linked:
            return []
        out = []
        for s in self._sensors:
            silent = now - s.last_seen
            if silent > s.cfg.interval_s and s.state is not SensorState.FAULT:
                reason = f"silent for {silent:.0f} s (interval {s.cfg.interval_s:g} s)"
                out.append(s.move(SensorState.FAULT, None, reason))
        return out

    def link_up(self, now: float) -> None:
        """The broker is back: silence is counted from now."""
        self._linked = True
        for s in self._sensors:
            s.last_seen = now

    def link_down(self) -> list[SensorUpdate]:
        """The broker is gone: every sensor's state is unknown until it reports again."""
        self._linked = False
        return [
            s.move(SensorState.UNAVAILABLE, None, None)
            for s in self._sensors
            if s.state is not SensorState.UNAVAILABLE
        ]
