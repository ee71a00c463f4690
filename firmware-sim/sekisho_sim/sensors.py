"""Simulated environment sensors on an I/O module: contacts, analog registers, supervised loops.

- ``contact``: a dry contact on a discrete input (smoke, water leak, UPS on battery / low
  battery, PIR, enclosure tamper): on = tripped.
- ``analog``: a value in an input register as a signed 16-bit number, ``raw = value / scale``
  (temperature in 0.1 °C with scale 0.1, humidity in 0.1 %RH ...).
- ``loop``: a supervised two-resistor end-of-line loop whose resistance (ohms, saturating at
  65535) is in an input register: ``normal`` = the 1 kΩ end-of-line resistor, ``alarm`` = the
  contact opened and put the 1.2 kΩ alarm resistor in series (2.2 kΩ), ``short`` = bridged wires
  (0 Ω), ``open`` = a cut wire (65535, "infinite").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class SimSensorError(Exception):
    """A sensor was declared or set to something it cannot be."""


class SensorType(StrEnum):
    """How a simulated sensor is wired."""

    CONTACT = "contact"  # discrete input, on = tripped
    ANALOG = "analog"  # input register, signed 16-bit, scaled
    LOOP = "loop"  # input register, loop resistance in ohms


LOOP_OHMS: dict[str, int] = {"normal": 1000, "alarm": 2200, "short": 0, "open": 65535}
_ON = frozenset({"on", "true", "1", "active", "alarm", "tripped"})
_OFF = frozenset({"off", "false", "0", "clear", "inactive", "normal"})


@dataclass(frozen=True, slots=True)
class SimSensorSpec:
    """One sensor and where it is wired."""

    sensor_id: str
    type: SensorType
    input: int | None = None  # contact: discrete input point
    register: int | None = None  # analog/loop: input register address
    scale: float = 1.0  # analog: value = raw * scale
    label: str = ""  # what it is, shown by ``sim list`` (smoke, temperature ...)
    initial: str | float | bool | None = None  # its first value (default: off / 0 / normal)

    def __post_init__(self) -> None:
        """Refuse a contact without an input, a register sensor without a register, scale 0."""
        if self.type is SensorType.CONTACT:
            if self.input is None or self.register is not None:
                raise SimSensorError(f"sensor {self.sensor_id}: a contact has an input only")
        elif self.register is None or self.input is not None:
            raise SimSensorError(f"sensor {self.sensor_id}: an {self.type} sensor has a register")
        if (self.input is not None and self.input < 0) or (
            self.register is not None and self.register < 0
        ):
            raise SimSensorError(f"sensor {self.sensor_id}: points must be >= 0")
        if not math.isfinite(self.scale) or self.scale == 0:
            raise SimSensorError(f"sensor {self.sensor_id}: scale must be a non-zero number")


@dataclass(frozen=True, slots=True)
class SimSensorView:
    """A sensor as an observer sees it: its value and the raw level or register."""

    sensor_id: str
    type: str
    label: str
    value: bool | float | str  # contact: tripped; analog: value; loop: state name or ohms
    raw: int


def encode(spec: SimSensorSpec, value: str | float | bool | None) -> int:
    """The raw input level (0/1) or register word (0..65535) for ``value``."""
    if spec.type is SensorType.CONTACT:
        return int(_on_off(spec, value))
    if spec.type is SensorType.LOOP:
        return _ohms(spec, value)
    return _analog(spec, value)


def describe(spec: SimSensorSpec, raw: int) -> bool | float | str:
    """The human value of a raw level or register word."""
    if spec.type is SensorType.CONTACT:
        return bool(raw)
    if spec.type is SensorType.LOOP:
        named = [name for name, ohms in LOOP_OHMS.items() if ohms == raw]
        return named[0] if named else float(raw)
    signed = raw - 0x10000 if raw >= 0x8000 else raw
    return round(signed * spec.scale, 6)


def _on_off(spec: SimSensorSpec, value: str | float | bool | None) -> bool:
    """A contact's level from a bool, 0/1 or a word such as on/off, alarm/clear."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _ON:
        return True
    if text in _OFF:
        return False
    raise SimSensorError(f"sensor {spec.sensor_id} is a contact: use on or off, not {value!r}")


def _ohms(spec: SimSensorSpec, value: str | float | bool | None) -> int:
    """A loop's resistance from a state name or a number of ohms."""
    if value is None:
        return LOOP_OHMS["normal"]
    if isinstance(value, str) and value.strip().lower() in LOOP_OHMS:
        return LOOP_OHMS[value.strip().lower()]
    number = _number(spec, value, "normal|alarm|open|short or ohms")
    if not 0 <= number <= 0xFFFF:
        raise SimSensorError(f"sensor {spec.sensor_id}: ohms must be 0..65535")
    return round(number)


def _analog(spec: SimSensorSpec, value: str | float | bool | None) -> int:
    """An analog value as a signed 16-bit register word."""
    raw = round(_number(spec, 0.0 if value is None else value, "a number") / spec.scale)
    if not -0x8000 <= raw <= 0x7FFF:
        raise SimSensorError(f"sensor {spec.sensor_id}: {value} does not fit a 16-bit register")
    return raw & 0xFFFF


def _number(spec: SimSensorSpec, value: str | float | bool, what: str) -> float:
    """A finite number from a number or numeric text."""
    if isinstance(value, bool):
        raise SimSensorError(f"sensor {spec.sensor_id}: give {what}, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise SimSensorError(f"sensor {spec.sensor_id}: give {what}, not {value!r}") from None
    if not math.isfinite(number):
        raise SimSensorError(f"sensor {spec.sensor_id}: {value!r} is not a finite number")
    return number
