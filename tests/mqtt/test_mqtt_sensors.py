"""MQTT sensors (zigbee2mqtt-style JSON) as environment inputs (4-8-7(5)).

The decoding rules on their own, then end to end against the machine's Mosquitto: a leak
raises the catalogue's alarm, junk payloads put the sensor in fault (recorded, never a crash),
and a sensor silent past its interval is a fault.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.environment.config import ThresholdConfig
from gateway.environment.model import SensorKind, SensorState
from gateway.mqtt.config import MqttSensorConfig
from gateway.mqtt.sensors import JunkPayload, SensorWatch, read_value
from gateway.records import RecordKind
from tests.mqtt.broker import SYSTEM_BROKER, Observer, clear_retained, wait_until
from tests.mqtt.rig import Rig, new_site_id, site_dict, start_rig, stop_rig

HOST, PORT = SYSTEM_BROKER

LEAK = MqttSensorConfig(id="leak", kind=SensorKind.WATER_LEAK, topic="z2m/leak", interval_s=60)
TEMP = MqttSensorConfig(
    id="temp",
    kind=SensorKind.TEMPERATURE,
    topic="z2m/climate",
    interval_s=60,
    thresholds=ThresholdConfig(high=30.0, hysteresis=1.0),
    valid_min=-20,
    valid_max=80,
)
HUMID = MqttSensorConfig(id="humid", kind=SensorKind.HUMIDITY, topic="z2m/climate", interval_s=60)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'"water_leak"', "not an object"),
        (b'{"water_leak": "yes"}', "not true/false"),
        (b'{"water_leak": 1}', "not true/false"),
        (b"{" * 50_000, "bytes"),  # huge (and deeply nested): refused by size first
        (b"[" * 3000 + b"]" * 3000, "not JSON"),  # nested past the parser's recursion limit
    ],
)
def test_junk_payloads_are_a_typed_error(payload: bytes, why: str) -> None:
    """Anything unusable is JunkPayload with a reason (no payload content in it)."""
    with pytest.raises(JunkPayload, match=why):
        read_value(LEAK, payload)


def test_readings_by_kind() -> None:
    """Binary kinds read true/false, analog kinds finite numbers; a missing key is no reading."""
    assert read_value(LEAK, b'{"water_leak": true, "battery": 97}') is True
    assert read_value(LEAK, b'{"battery": 97}') is None
    assert read_value(TEMP, b'{"temperature": 24.5}') == 24.5
    with pytest.raises(JunkPayload):
        read_value(TEMP, b'{"temperature": true}')
    with pytest.raises(JunkPayload):
        read_value(TEMP, b'{"temperature": NaN}')


@given(st.binary(max_size=512))
@settings(max_examples=300, deadline=None)
def test_no_payload_crashes_the_watch(payload: bytes) -> None:
    """Whatever bytes arrive, the watch answers with updates, never an exception."""
    watch = SensorWatch([LEAK, TEMP, HUMID], now=0.0)
    watch.link_up(0.0)
    for u in watch.on_message("z2m/climate", payload, 1.0) + watch.on_message(
        "z2m/leak", payload, 1.0
    ):
        assert u.state in SensorState


def test_states_thresholds_junk_and_silence() -> None:
    """ALARM/NORMAL, HIGH with hysteresis, FAULT on junk (once, counted), FAULT on silence,
    UNAVAILABLE while the broker is away; two sensors on one topic read their own keys."""
    w = SensorWatch([LEAK, TEMP, HUMID], now=0.0)
    w.link_up(0.0)
    (u,) = w.on_message("z2m/leak", b'{"water_leak": true}', 1.0)
    assert (u.state, u.state_changed) == (SensorState.ALARM, True)
    ups = w.on_message("z2m/climate", b'{"temperature": 31.0, "humidity": 40}', 2.0)
    assert {(x.cfg.id, x.state, x.value) for x in ups} == {
        ("temp", SensorState.HIGH, 31.0),
        ("humid", SensorState.NORMAL, 40.0),
    }
    (u,) = w.on_message("z2m/climate", b'{"temperature": 29.5}', 3.0)  # within hysteresis
    assert u.state is SensorState.HIGH
    (u,) = w.on_message("z2m/climate", b'{"temperature": 28.9}', 4.0)
    assert u.state is SensorState.NORMAL
    (u,) = w.on_message("z2m/climate", b'{"temperature": 99}', 5.0)  # outside valid range
    assert u.state is SensorState.FAULT
    (u,) = w.on_message("z2m/leak", b"garbage", 6.0)
    assert (u.state, u.fault) == (SensorState.FAULT, "junk payload: not JSON")
    assert w.on_message("z2m/leak", b"more garbage", 7.0) == []  # already in fault: counted
    (u,) = w.on_message("z2m/leak", b'{"water_leak": false}', 8.0)
    assert (u.state, u.junk_count) == (SensorState.NORMAL, 2)
    assert w.check_silence(60.0) == []
    # any message on its topic is a sign of life: humid was last seen at 5.0, leak at 8.0
    assert [(x.cfg.id, x.state) for x in w.check_silence(66.0)] == [("humid", SensorState.FAULT)]
    silent = w.check_silence(69.0)
    assert [(x.cfg.id, x.state) for x in silent] == [("leak", SensorState.FAULT)]
    assert silent[0].fault is not None and silent[0].fault.startswith("silent for")
    assert w.check_silence(100.0) == []  # already in fault: said once
    down = w.link_down()
    assert {x.state for x in down} == {SensorState.UNAVAILABLE}
    assert w.check_silence(1000.0) == []  # no link, no silence verdict


@pytest.fixture
async def leak_site(tmp_path: Path) -> AsyncIterator[tuple[Rig, str]]:
    """A gateway with the alarm stack and one MQTT leak sensor (interval 2 s)."""
    sid = new_site_id()
    prefix = f"test/{sid}/sekisho"
    sensor_topic = f"test/{sid}/z2m/server-room-leak"
    mqtt = {
        "port": PORT,
        "prefix": prefix,
        "discovery": {"prefix": f"test/{sid}/ha"},
        "sensors": [
            {
                "id": "sr-leak",
                "name": "Server room leak",
                "kind": "water_leak",
                "topic": sensor_topic,
                "zone": "server-room",
                "interval_s": 2,
            }
        ],
    }
    r = await start_rig(tmp_path, site_dict(sid, mqtt), alarm_stack=True)
    try:
        await wait_until(lambda: r.service.status().connected, what="connected")
        yield r, sensor_topic
    finally:
        await stop_rig(r)
        clear_retained(PORT, f"test/{sid}/#")


def _sensor_records(r: Rig) -> list[tuple[str, str]]:
    """(state, fault) of every sensor.state record so far."""
    return [
        (str(x.detail["state"]), str(x.detail.get("fault", "")))
        for x in r.records(lambda rec: rec.kind is RecordKind.SENSOR_STATE)
    ]


async def test_a_leak_over_mqtt_raises_the_leak_alarm(leak_site: tuple[Rig, str]) -> None:
    """``{"water_leak": true}`` is a sensor.state ALARM record, an env.water_leak alarm, and
    the sensor's retained state on the gateway's own topic."""
    r, topic = leak_site
    assert r.stack is not None
    pub = Observer(PORT).start(f"{r.service.topics.prefix}/sensor/#")
    try:
        pub.publish(topic, json.dumps({"water_leak": True, "battery": 90, "linkquality": 80}))
        await wait_until(lambda: bool(r.stack and r.stack.alarms.active()), what="alarm")
        (alarm,) = r.stack.alarms.active()
        assert (alarm.type, alarm.source, alarm.zone_id) == (
            "env.water_leak",
            "sensor:sr-leak",
            "server-room",
        )
        assert _sensor_records(r) == [("alarm", "")]
        state_topic = f"{r.service.topics.prefix}/sensor/sr-leak/state"
        await wait_until(lambda: bool(pub.on(state_topic)), what="sensor state published")
        state = json.loads(pub.on(state_topic)[-1].payload)
        assert (state["state"], state["kind"], state["zone_id"]) == (
            "alarm",
            "water_leak",
            "server-room",
        )
    finally:
        pub.stop()


async def test_junk_and_silence_are_faults_never_crashes(leak_site: tuple[Rig, str]) -> None:
    """Junk payloads put the sensor in FAULT (one record, however many arrive), a good reading
    clears it, and two seconds of silence is a FAULT again; the gateway keeps running."""
    r, topic = leak_site
    pub = Observer(PORT).start()
    try:
        for junk in (b"\x00\xffjunk", b"[]", b'{"water_leak": "maybe"}', b"{" * 20_000):
            pub.publish(topic, junk)
        await wait_until(lambda: bool(_sensor_records(r)), what="fault record")
        pub.publish(topic, b'{"water_leak": false}')
        await wait_until(lambda: len(_sensor_records(r)) >= 2, what="back to normal")
        await wait_until(lambda: len(_sensor_records(r)) >= 3, within=15, what="silence fault")
        got = _sensor_records(r)
        assert got[0] == ("fault", "junk payload: not JSON")
        assert got[1] == ("normal", "")
        assert got[2][0] == "fault" and got[2][1].startswith("silent for")
        normal = r.records(lambda x: x.kind is RecordKind.SENSOR_STATE)[1]
        assert normal.detail["junk_payloads"] == 4
        assert r.service.status().connected  # still serving
    finally:
        pub.stop()
