"""The site file's ``sensors:`` section: what is wired where, and how readings are decoded.

A sensor is either a digital input (a dry contact: smoke, leak, UPS, PIR, tamper) or an input
register: an analog value checked against thresholds with hysteresis (temperature, humidity),
or a supervised end-of-line loop read as ohms, where a cut or bridged wire is told apart from
the sensor's own alarm (4-8-7(5)).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.environment.model import SensorKind

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
REGISTER_MAX = 0xFFFF


class _Strict(BaseModel):
    """Unknown keys are an error, values are immutable (as everywhere in the site file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EolConfig(_Strict):
    """Bands of a two-resistor supervised loop, in ohms as the module reports them.

    Normal: the end-of-line resistor alone (e.g. 1 kΩ). Alarm: the contact opens and puts the
    alarm resistor in series (e.g. 1 kΩ + 1.2 kΩ). Far below normal: the pair is bridged
    (short); far above alarm: the loop is cut (open).
    """

    short_below: int = Field(default=300, ge=0, le=REGISTER_MAX)  # under this: short circuit
    normal_below: int = Field(default=1500, ge=1, le=REGISTER_MAX)  # under this: normal
    alarm_below: int = Field(default=5000, ge=1, le=REGISTER_MAX)  # under this: alarm, else open

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        """The bands must follow each other: short < normal < alarm < open."""
        if not self.short_below < self.normal_below < self.alarm_below:
            raise ValueError("eol bands need short_below < normal_below < alarm_below")
        return self


class ThresholdConfig(_Strict):
    """Limits of an analog value, with hysteresis so that a value at the limit cannot flap."""

    high: float | None = None  # at or above: HIGH; back to normal below high - hysteresis
    low: float | None = None  # at or below: LOW; back to normal above low + hysteresis
    hysteresis: float = Field(default=0.5, ge=0)

    @model_validator(mode="after")
    def _limits(self) -> Self:
        """At least one limit; with both, their hysteresis bands must not overlap."""
        if self.high is None and self.low is None:
            raise ValueError("thresholds need high, low or both")
        if (
            self.high is not None
            and self.low is not None
            and not self.low + self.hysteresis < self.high - self.hysteresis
        ):
            raise ValueError("thresholds: low + hysteresis must be below high - hysteresis")
        return self


class SensorConfig(_Strict):
    """One environment or intrusion sensor wired to an I/O module."""

    id: Ident
    name: str = ""
    kind: SensorKind
    zone: Ident | None = None
    module: Ident
    input: int | None = Field(default=None, ge=0)  # digital input point (active = tripped)
    normally_closed: bool = False  # the contact opens on alarm: inactive input = tripped
    input_register: int | None = Field(default=None, ge=0, le=REGISTER_MAX)  # Modbus fc 4
    signed: bool = True  # the register holds a signed 16-bit value (negative temperatures)
    scale: float = 1.0  # value = raw * scale + offset
    offset: float = 0.0
    unit: str | None = Field(default=None, max_length=16)
    thresholds: ThresholdConfig | None = None  # analog kinds
    eol: EolConfig | None = None  # supervised loop on a register (binary kinds)
    valid_min: float | None = None  # a value outside [valid_min, valid_max] is a sensor fault
    valid_max: float | None = None

    @model_validator(mode="after")
    def _wiring(self) -> Self:
        """Exactly one of input/register, and the decoding that fits the kind."""
        if (self.input is None) == (self.input_register is None):
            raise ValueError("a sensor has exactly one of input or input_register")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        if self.kind.analog:
            if self.input_register is None or self.thresholds is None:
                raise ValueError(
                    f"a {self.kind.value} sensor needs an input_register and thresholds"
                )
            if self.eol is not None:
                raise ValueError(f"a {self.kind.value} sensor is not a supervised loop (no eol)")
        else:
            if self.thresholds is not None:
                raise ValueError(f"a {self.kind.value} sensor takes no thresholds")
            if self.input_register is not None and self.eol is None:
                raise ValueError(
                    f"a {self.kind.value} sensor on an input_register is a supervised loop: "
                    "give eol"
                )
        if self.normally_closed and self.input is None:
            raise ValueError("normally_closed applies to a digital input only")
        if (self.valid_min is not None or self.valid_max is not None) and not self.kind.analog:
            raise ValueError("valid_min/valid_max apply to analog sensors only")
        if (
            self.valid_min is not None
            and self.valid_max is not None
            and not self.valid_min < self.valid_max
        ):
            raise ValueError("valid_min must be below valid_max")
        return self

    @property
    def shown_unit(self) -> str:
        """The unit values are shown in (the kind's default unless set)."""
        if self.unit is not None:
            return self.unit
        return "Ω" if self.eol is not None else self.kind.default_unit


def check_sensor_wiring(
    sensors: Sequence[SensorConfig],
    *,
    modules: Iterable[str],
    zones: Iterable[str],
    used_inputs: dict[tuple[str, int], str],
) -> None:
    """Refuse unknown modules/zones and points wired twice; messages start with their path.

    ``used_inputs`` holds the (module, point) pairs doors and readers already claim.
    """
    module_ids, zone_ids = set(modules), set(zones)
    inputs = dict(used_inputs)
    registers: dict[tuple[str, int], str] = {}
    seen: set[str] = set()
    for i, s in enumerate(sensors):
        path = f"sensors[{i}]"
        if s.id in seen:
            raise ValueError(f"{path}.id: {s.id!r} appears twice")
        seen.add(s.id)
        if s.module not in module_ids:
            raise ValueError(f"{path}.module: unknown module {s.module!r}")
        if s.zone is not None and s.zone not in zone_ids:
            raise ValueError(f"{path}.zone: unknown zone {s.zone!r}")
        if s.input is not None:
            key = (s.module, s.input)
            if key in inputs:
                raise ValueError(
                    f"{path}.input: {s.module} point {s.input} is already {inputs[key]}"
                )
            inputs[key] = f"{path}.input"
        if s.input_register is not None:
            key = (s.module, s.input_register)
            if key in registers:
                raise ValueError(
                    f"{path}.input_register: {s.module} register {s.input_register} is already "
                    f"{registers[key]}"
                )
            registers[key] = f"{path}.input_register"
