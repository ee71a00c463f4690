"""Environment and supervised inputs (4-8-7(5)): decoding, the site file, and the service.

The service is fed the typed events a driver emits, on a real bus and a real record log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from gateway.config.load import ConfigError, parse_site
from gateway.core_events import SensorChanged
from gateway.environment.config import EolConfig, SensorConfig, ThresholdConfig
from gateway.environment.decode import decode_eol, decode_register, decode_threshold
from gateway.environment.model import SensorState
from gateway.environment.service import EnvironmentService, UnknownSensor
from gateway.events import InputChanged, ModuleLink, RegisterChanged
from gateway.records import RecordKind as K
from tests.gateway.alarms.alarm_support import SITE, Core, site_config, start_core, stop_core

S = SensorState
LIMITS = ThresholdConfig(high=30.0, low=15.0, hysteresis=1.0)


def test_thresholds_with_hysteresis() -> None:
    assert decode_threshold(LIMITS, 29.9, None) is S.NORMAL
    assert decode_threshold(LIMITS, 30.0, None) is S.HIGH
    assert decode_threshold(LIMITS, 29.5, S.HIGH) is S.HIGH  # inside the hysteresis: stays
    assert decode_threshold(LIMITS, 29.0, S.HIGH) is S.NORMAL  # past it: back to normal
    assert decode_threshold(LIMITS, 15.0, None) is S.LOW
    assert decode_threshold(LIMITS, 15.9, S.LOW) is S.LOW
    assert decode_threshold(LIMITS, 16.0, S.LOW) is S.NORMAL
    assert decode_threshold(LIMITS, 14.0, S.HIGH) is S.LOW


@given(st.lists(st.floats(min_value=29.05, max_value=30.95), min_size=1, max_size=50))
def test_a_value_wandering_around_the_limit_changes_state_at_most_once(
    values: list[float],
) -> None:
    """Inside the hysteresis band it never flaps: once HIGH, it stays HIGH."""
    state: SensorState | None = S.NORMAL
    changes = 0
    for v in values:
        new = decode_threshold(LIMITS, v, state)
        changes += new is not state
        state = new
    assert changes <= 1


def test_two_resistor_loop_bands() -> None:
    bands = EolConfig()
    assert [decode_eol(bands, ohms) for ohms in (0, 299, 300, 1000, 1499, 1500, 2200)] == [
        S.SHORT,
        S.SHORT,
        S.NORMAL,
        S.NORMAL,
        S.NORMAL,
        S.ALARM,
        S.ALARM,
    ]
    assert decode_eol(bands, 4999) is S.ALARM
    assert decode_eol(bands, 5000) is S.OPEN  # a cut wire is an alarm, never a quiet normal
    assert decode_eol(bands, 65535) is S.OPEN


def test_registers_are_signed_scaled_and_range_checked() -> None:
    cfg = SensorConfig.model_validate(
        {
            "id": "t",
            "kind": "temperature",
            "module": "io1",
            "input_register": 0,
            "scale": 0.1,
            "thresholds": {"high": 30, "low": -10, "hysteresis": 1},
            "valid_min": -40,
            "valid_max": 80,
        }
    )
    assert decode_register(cfg, 225, None) == (S.NORMAL, 22.5)
    state, value = decode_register(cfg, 0xFF9C, None)  # -100 → -10.0 °C
    assert (state, round(value, 6)) == (S.LOW, -10.0)
    assert decode_register(cfg, 0x7FFF, None)[0] is S.FAULT  # 3276.7 °C: a broken sensor
    assert decode_register(cfg, 900, S.HIGH)[0] is S.FAULT


def _parse(sensors: list[dict[str, Any]]) -> None:
    """Parse the test site with these sensors."""
    parse_site(yaml.safe_dump({**SITE, "sensors": sensors}), Path("site.yaml"))


@pytest.mark.parametrize(
    ("sensor", "message"),
    [
        ({"input": 0}, r"sensors\[0\]\.input .*io1 point 0 is already doors\[0\]"),
        ({"module": "io9"}, r"sensors\[0\]\.module .*unknown module"),
        ({"zone": "nowhere"}, r"sensors\[0\]\.zone .*unknown zone"),
        ({"input": None}, "exactly one of input or input_register"),
        ({"input": 3, "input_register": 2}, "exactly one of input or input_register"),
        ({"input": None, "input_register": 1}, "supervised loop: give eol"),
        ({"thresholds": {"high": 1}}, "takes no thresholds"),
        ({"kind": "temperature"}, "needs an input_register and thresholds"),
        ({"nonsense": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_sensor_wiring_is_refused_with_its_path(sensor: dict[str, Any], message: str) -> None:
    base = {"id": "s1", "kind": "smoke", "module": "io1", "input": 3}
    with pytest.raises(ConfigError, match=message):
        _parse([{**base, **sensor}])


def test_two_sensors_on_one_point_or_id_are_refused() -> None:
    a = {"id": "a", "kind": "smoke", "module": "io1", "input": 3}
    with pytest.raises(ConfigError, match=r"sensors\[1\]\.input"):
        _parse([a, {**a, "id": "b"}])
    with pytest.raises(ConfigError, match=r"sensors\[1\]\.id"):
        _parse([a, {**a, "input": 4}])
    with pytest.raises(ConfigError, match="hysteresis"):
        _parse(
            [
                {
                    "id": "t",
                    "kind": "humidity",
                    "module": "io1",
                    "input_register": 0,
                    "thresholds": {"high": 50, "low": 49, "hysteresis": 1},
                }
            ]
        )
    with pytest.raises(ConfigError, match="short_below < normal_below"):
        _parse(
            [
                {
                    "id": "l",
                    "kind": "smoke",
                    "module": "io1",
                    "input_register": 0,
                    "eol": {"short_below": 2000},
                }
            ]
        )


@pytest.fixture
async def env(engine: Engine) -> AsyncIterator[tuple[Core, EnvironmentService]]:
    """The environment service on the test site, with the alarm service listening."""
    core = await start_core(engine, site_config())
    service = EnvironmentService(core.site, core.bus, core.recorder)
    try:
        yield core, service
    finally:
        await stop_core(core)


async def test_readings_become_states_records_and_alarms(
    env: tuple[Core, EnvironmentService],
) -> None:
    core, service = env
    seen: list[SensorChanged] = []
    core.bus.subscribe(SensorChanged, seen.append)
    assert service.sensor("temp1").state is S.UNAVAILABLE  # nothing read yet
    with pytest.raises(UnknownSensor):
        service.sensor("nope")
    service.on_device_event(InputChanged("io1", 5, False, 0))  # smoke normal: no record
    service.on_device_event(RegisterChanged("io1", 0, 225, 0))  # 22.5 °C: no record
    service.on_device_event(InputChanged("io1", 9, True, 0))  # a point no sensor uses
    service.on_device_event(RegisterChanged("io2", 0, 999, 0))  # a module with no sensors
    assert [(c.sensor_id, c.state, c.value) for c in seen] == [
        ("smoke1", S.NORMAL, None),
        ("temp1", S.NORMAL, 22.5),
    ]
    assert service.sensor("temp1").unit == "°C"
    service.on_device_event(RegisterChanged("io1", 0, 305, 0))  # 30.5 °C: HIGH
    service.on_device_event(RegisterChanged("io1", 0, 295, 0))  # 29.5: still HIGH, no record
    service.on_device_event(InputChanged("io1", 5, True, 0))  # smoke!
    await core.wait(lambda: len(core.alarms.active()) == 2, "two alarms")
    assert {a.type for a in core.alarms.active()} == {"env.temperature_high", "env.smoke"}
    states = [r for _, r in core.written if r.kind is K.SENSOR_STATE]
    assert [(r.detail["sensor"], r.detail["state"], r.detail["previous"]) for r in states] == [
        ("temp1", "high", "normal"),
        ("smoke1", "alarm", "normal"),
    ]
    assert states[0].detail["value"] == 30.5 and states[0].zone_id == "srv"
    # the module goes away: unavailable (published, not recorded), alarms stay as they were
    service.on_device_event(ModuleLink("io1", online=False, detail="gone"))
    assert service.sensor("smoke1").state is S.UNAVAILABLE
    assert len([r for _, r in core.written if r.kind is K.SENSOR_STATE]) == 2
    # back, and the smoke has gone: recorded as normal again, the alarm clears
    service.on_device_event(InputChanged("io1", 5, False, 0))
    await core.wait(
        lambda: (
            [a.type for a in core.alarms.active() if a.condition_active] == ["env.temperature_high"]
        ),
        "smoke cleared",
    )


async def test_junk_never_raises_out_of_the_tap(env: tuple[Core, EnvironmentService]) -> None:
    _, service = env
    service.on_device_event(RegisterChanged("io1", 0, -5, 0))  # not a 16-bit word: masked
    service.on_device_event(RegisterChanged("io1", 0, 10**9, 0))
    service.on_device_event(ModuleLink("io1", online=True))
    assert service.sensor("temp1").state in set(SensorState)
