"""Pure decoding of module readings into sensor states: contacts, thresholds, EOL loops.

Clause 4-8-7(5): a supervised loop tells a cut wire (OPEN) and bridged wires (SHORT) from the
sensor's own alarm, so that damage to the wiring is an alarm and never a quiet "normal".
"""

from __future__ import annotations

from gateway.environment.config import EolConfig, SensorConfig, ThresholdConfig
from gateway.environment.model import SensorState


def decode_input(cfg: SensorConfig, active: bool) -> SensorState:
    """A dry contact: tripped when active (or inactive, for a normally-closed contact)."""
    tripped = not active if cfg.normally_closed else active
    return SensorState.ALARM if tripped else SensorState.NORMAL


def register_value(cfg: SensorConfig, raw: int) -> float:
    """A 16-bit register as the sensor's value: two's complement if signed, then scaled."""
    raw &= 0xFFFF
    if cfg.signed and raw >= 0x8000:
        raw -= 0x10000
    return raw * cfg.scale + cfg.offset


def decode_threshold(
    limits: ThresholdConfig, value: float, previous: SensorState | None
) -> SensorState:
    """HIGH/LOW past a limit; back to NORMAL only once past the limit less the hysteresis."""
    if limits.high is not None and value >= limits.high:
        return SensorState.HIGH
    if limits.low is not None and value <= limits.low:
        return SensorState.LOW
    if (
        previous is SensorState.HIGH
        and limits.high is not None
        and value > limits.high - limits.hysteresis
    ):
        return SensorState.HIGH
    if (
        previous is SensorState.LOW
        and limits.low is not None
        and value < limits.low + limits.hysteresis
    ):
        return SensorState.LOW
    return SensorState.NORMAL


def decode_eol(bands: EolConfig, ohms: int) -> SensorState:
    """A two-resistor loop's resistance as SHORT, NORMAL, ALARM or OPEN."""
    if ohms < bands.short_below:
        return SensorState.SHORT
    if ohms < bands.normal_below:
        return SensorState.NORMAL
    if ohms < bands.alarm_below:
        return SensorState.ALARM
    return SensorState.OPEN


def decode_register(
    cfg: SensorConfig, raw: int, previous: SensorState | None
) -> tuple[SensorState, float]:
    """A register reading as (state, value) for an analog sensor or a supervised loop."""
    if cfg.eol is not None:
        ohms = raw & 0xFFFF
        return decode_eol(cfg.eol, ohms), float(ohms)
    value = register_value(cfg, raw)
    if (cfg.valid_min is not None and value < cfg.valid_min) or (
        cfg.valid_max is not None and value > cfg.valid_max
    ):
        return SensorState.FAULT, value
    assert cfg.thresholds is not None  # validated: analog sensors have thresholds
    # A value back from a fault is judged afresh, without the hysteresis of before the fault.
    before = previous if previous in (SensorState.HIGH, SensorState.LOW) else None
    return decode_threshold(cfg.thresholds, value, before), value
