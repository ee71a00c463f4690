"""Sensor vocabulary: what a sensor measures, the states it can be in, and its live status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SensorKind(StrEnum):
    """What a sensor watches (4-8-7(4)(5))."""

    SMOKE = "smoke"  # smoke detector contact
    WATER_LEAK = "water_leak"  # leak detection cable or spot sensor
    TEMPERATURE = "temperature"  # room temperature, an input register
    HUMIDITY = "humidity"  # relative humidity, an input register
    UPS_ON_BATTERY = "ups_on_battery"  # UPS dry contact: running on battery
    UPS_LOW_BATTERY = "ups_low_battery"  # UPS dry contact: battery nearly exhausted
    INTRUSION = "intrusion"  # PIR motion detector
    ENCLOSURE_TAMPER = "enclosure_tamper"  # rack or control-panel door/tamper switch

    @property
    def analog(self) -> bool:
        """True for kinds measured as a value against thresholds."""
        return self in (SensorKind.TEMPERATURE, SensorKind.HUMIDITY)

    @property
    def default_unit(self) -> str:
        """The unit a value of this kind is shown in."""
        return {SensorKind.TEMPERATURE: "°C", SensorKind.HUMIDITY: "%"}.get(self, "")


class SensorState(StrEnum):
    """Where a sensor stands; every state but NORMAL (and UNAVAILABLE) is an alarm condition."""

    NORMAL = "normal"  # nothing to report
    ALARM = "alarm"  # a binary sensor is tripped (smoke, leak, motion, UPS contact ...)
    HIGH = "high"  # an analog value is above its high threshold
    LOW = "low"  # an analog value is below its low threshold
    OPEN = "open"  # supervised loop: open circuit, a cut wire (wiring fault)
    SHORT = "short"  # supervised loop: short circuit, bridged wires (wiring fault)
    FAULT = "fault"  # a value outside the sensor's valid range: the sensor itself is broken
    UNAVAILABLE = "unavailable"  # its module is unreachable: state unknown


@dataclass(frozen=True, slots=True)
class SensorStatus:
    """Live status of one sensor, as the dashboard and MQTT see it."""

    sensor_id: str
    name: str
    kind: SensorKind
    zone_id: str | None
    state: SensorState
    value: float | None  # analog value (scaled) or loop reading; None for plain contacts
    unit: str
    since: datetime | None  # when ``state`` was entered (UTC); None before the first reading
