"""Property fuzzing of every parser that takes bytes or text from outside: bad input from any
side gets a typed error, never a crash.

Wiegand frames and RDM6300 byte streams (from the wire), the site file and the firmware-sim
spec (from an installer), MQTT command and sensor payloads (from the broker). The number of
examples per property is ``RESILIENCE_EXAMPLES`` (150 in CI; the long run uses many more).
"""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.errors import WiegandError
from devices.rdm6300 import BadFrame, parse
from devices.wiegand import LAYOUTS, decode
from gateway.config.load import ConfigError, parse_site
from gateway.config.site import SiteConfig
from gateway.domain import CardId
from gateway.mqtt.commands import CommandGate, CommandRefused
from gateway.mqtt.config import MqttCommands, MqttSensorConfig
from gateway.mqtt.link import Incoming
from gateway.mqtt.payloads import redact
from gateway.mqtt.sensors import JunkPayload, read_value
from gateway.mqtt.topics import Topics
from sekisho import demo_site
from sekisho_sim.spec import SimSpec, SpecError, parse_spec

EXAMPLES = int(os.environ.get("RESILIENCE_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a loaded 2-core machine: no per-example timing
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
HERE = Path("/nonexistent/site.yaml")  # only names the file in errors


def _says_why(exc: Exception) -> None:
    """A refusal must say what is wrong."""
    if not str(exc).strip():
        pytest.fail(f"{type(exc).__name__} without a message")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


# --- wire: Wiegand, RDM6300 -------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=12), st.integers(min_value=-8, max_value=100))
def test_wiegand_decode_takes_any_frame(data: bytes, bits: int) -> None:
    """Any bytes and bit count: a card, or WiegandError."""
    try:
        card = decode(data, bits)
    except WiegandError:
        return
    assert isinstance(card, CardId)
    assert bits in LAYOUTS and len(data) == (bits + 7) // 8


def _frame(payload: bytes) -> bytes:
    """STX + payload + ETX."""
    return b"\x02" + payload + b"\x03"


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=30),
            st.binary(min_size=12, max_size=12).map(_frame),  # frame-shaped, checksum random
            st.sampled_from([b"\x02", b"\x03", b"\x02\x02", b"0" * 13]),
        ),
        max_size=12,
    )
)
def test_rdm6300_stream_parser_takes_any_bytes_in_any_chunks(chunks: list[bytes]) -> None:
    """Any stream, any chunking: cards or bad frames, one partial frame kept at most."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        for item in parse(buffer):
            assert isinstance(item, CardId | BadFrame)
        assert len(buffer) < 14  # at most one partial frame is kept


# --- installer: site file, sim spec -----------------------------------------------------------

SITE = demo_site.site_file(Path("/srv/site"), 1502)
SPEC = demo_site.sim_spec(Path("/srv/site"))


def _paths(data: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value in nested dicts and lists."""
    out: list[tuple[object, ...]] = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


SITE_PATHS = _paths(SITE)
SPEC_PATHS = _paths(SPEC)


def _mutate(base: dict[str, Any], edits: list[tuple[tuple[object, ...], object, bool]]) -> Any:
    """A copy of ``base`` with each path replaced by a value (or deleted)."""
    doc: Any = copy.deepcopy(base)
    for path, value, delete in edits:
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]  # type: ignore[index]
            if delete:
                del parent[path[-1]]  # type: ignore[union-attr]
            else:
                parent[path[-1]] = value  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced the way there
    return doc


def _edits(paths: list[tuple[object, ...]]) -> st.SearchStrategy[list[tuple[Any, Any, bool]]]:
    """Up to four replacements or deletions at paths of a document."""
    return st.lists(st.tuples(st.sampled_from(paths), json_values, st.booleans()), max_size=4)


@FUZZ
@given(_edits(SITE_PATHS))
def test_site_file_with_any_values_loads_or_says_why(edits: list[tuple[Any, Any, bool]]) -> None:
    """The demo site with random values anywhere: a SiteConfig or a ConfigError."""
    text = yaml.safe_dump(_mutate(SITE, edits), allow_unicode=True)
    try:
        site = parse_site(text, HERE)
    except ConfigError as exc:
        _says_why(exc)
        return
    assert isinstance(site, SiteConfig)


@FUZZ
@given(st.text(max_size=300))
def test_site_file_that_is_any_text_loads_or_says_why(text: str) -> None:
    """Any text as a site file: a ConfigError (or, rarely, a site)."""
    try:
        parse_site(text, HERE)
    except ConfigError as exc:
        _says_why(exc)


@FUZZ
@given(_edits(SPEC_PATHS))
def test_sim_spec_with_any_values_loads_or_says_why(edits: list[tuple[Any, Any, bool]]) -> None:
    """The demo's sim spec with random values anywhere: a SimSpec or a SpecError."""
    text = yaml.safe_dump(_mutate(SPEC, edits), allow_unicode=True)
    try:
        spec = parse_spec(text, Path("/srv/site/sim.yaml"))
    except SpecError as exc:
        _says_why(exc)
        return
    assert isinstance(spec, SimSpec)


@FUZZ
@given(st.text(max_size=300))
def test_sim_spec_that_is_any_text_loads_or_says_why(text: str) -> None:
    """Any text as a sim spec: a SpecError (or, rarely, a spec)."""
    try:
        parse_spec(text, Path("/srv/site/sim.yaml"))
    except SpecError as exc:
        _says_why(exc)


# --- broker: MQTT commands and sensor payloads ------------------------------------------------

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TOPICS = Topics("sekisho/hq")
COMMAND_TOPICS = [
    "sekisho/hq/cmd/alice/door/sr-door",
    "sekisho/hq/cmd/alice/zone/server-room",
    "sekisho/hq/cmd/alice/alarm/a1",
    "sekisho/hq/cmd/mallory/door/sr-door",
    "sekisho/hq/cmd/alice",
    "sekisho/hq/cmd//door/x",
]


def _body() -> st.SearchStrategy[bytes]:
    """Command-shaped JSON with any values, any JSON, or any bytes."""
    command = st.fixed_dictionaries(
        {},
        optional={
            "action": st.sampled_from(["unlock", "lockdown", "release", "ack", "x"])
            | st.text(max_size=40),
            "ts": st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()) | json_values,
            "id": st.text(max_size=70) | json_values,
            "note": st.text(max_size=600) | json_values,
            "extra": json_values,
        },
    ).map(lambda d: json.dumps(d).encode())
    return command | st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())


@FUZZ
@given(
    st.sampled_from(COMMAND_TOPICS) | st.text(max_size=80),
    _body(),
    st.booleans(),
    st.none() | st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=-100_000, max_value=100_000),
)
def test_mqtt_command_gate_takes_any_message(
    topic: str, payload: bytes, retain: bool, expiry: int | None, skew_s: int
) -> None:
    """Any command message at any time: admitted (only alice's, not retained) or refused."""
    gate = CommandGate(MqttCommands(users={"alice": "operator"}, max_age_s=30), TOPICS)
    try:
        request = gate.admit(
            Incoming(topic, payload, retain, expiry, 0), NOW + timedelta(seconds=skew_s)
        )
    except CommandRefused as refused:
        _says_why(refused)
        return
    assert request.user == "alice" and not retain


SENSORS = [
    MqttSensorConfig(id="leak", kind="water_leak", topic="zigbee2mqtt/leak"),
    MqttSensorConfig(id="temp", kind="temperature", topic="zigbee2mqtt/climate"),
]


@FUZZ
@given(
    st.sampled_from(SENSORS),
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(
        st.sampled_from(["water_leak", "temperature", "humidity", "x"]), json_values, max_size=3
    ).map(lambda d: json.dumps(d).encode()),
)
def test_mqtt_sensor_payload_reads_or_is_junk(cfg: MqttSensorConfig, payload: bytes) -> None:
    """Any sensor payload: a reading, None, or JunkPayload."""
    try:
        value = read_value(cfg, payload)
    except JunkPayload as junk:
        _says_why(junk)
        return
    assert value is None or isinstance(value, bool | float)


@FUZZ
@given(json_values)
def test_mqtt_event_redaction_takes_any_json(value: Any) -> None:
    """Redaction of any JSON value is still JSON."""
    out = redact(value)
    json.dumps(out, allow_nan=True)  # still JSON
