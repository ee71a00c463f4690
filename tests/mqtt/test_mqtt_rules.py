"""The MQTT rules on their own: site-file section, topics, redaction, command checks, roles."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.roles import PERMISSIONS, Permission, Role
from gateway.config.load import ConfigError, parse_site
from gateway.mqtt import payloads
from gateway.mqtt.commands import CommandGate, CommandRefused, Refusal
from gateway.mqtt.config import MqttCommands
from gateway.mqtt.config import Role as SiteRole
from gateway.mqtt.discovery import announcements
from gateway.mqtt.link import Incoming
from gateway.mqtt.permissions import API_PERMISSION, COMMAND_ROLES, ROLES, Command
from gateway.mqtt.topics import Topics
from gateway.records import NewRecord, RecordKind
from sekisho.app import describe_mqtt
from sekisho.demo import DemoError, banner, demo_mqtt
from tests.mqtt.rig import site_dict

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
T = Topics("sekisho/hq")


def _yaml(mqtt: dict[str, Any], **extra: Any) -> str:
    """A site file text with this mqtt: section."""
    return json.dumps(site_dict("hq", mqtt, **extra))  # JSON is YAML


def _problems(mqtt: dict[str, Any], **extra: Any) -> str:
    """The loader's complaints about it."""
    with pytest.raises(ConfigError) as err:
        parse_site(_yaml(mqtt, **extra), Path("site.yaml"))
    return "; ".join(err.value.problems)


# --- the site file ------------------------------------------------------------------------


def test_an_mqtt_section_with_defaults() -> None:
    """Defaults: localhost:1883, prefix sekisho/<site>, client id sekisho-<site>, discovery on."""
    site = parse_site(_yaml({}), Path("site.yaml"))
    assert site.mqtt is not None
    assert site.mqtt.topic_prefix("hq") == "sekisho/hq"
    assert site.mqtt.client_id_for("hq") == "sekisho-hq"
    assert site.mqtt.discovery.enabled and site.mqtt.tls is None
    assert parse_site(json.dumps(site_dict("hq", None)), Path("s.yaml")).mqtt is None


@pytest.mark.parametrize(
    ("mqtt", "extra", "says"),
    [
        ({"prefix": "a/#"}, {}, "mqtt.prefix"),
        ({"prefix": "/lead"}, {}, "not a topic"),
        ({"commands": {"users": {"alice": "operator"}}}, {}, "authenticated connection"),
        (
            {"username": "gw", "commands": {"users": {"gw": "operator"}}},
            {},
            "gateway's own user",
        ),
        ({"username": "gw", "commands": {"users": {"al/ice": "operator"}}}, {}, "al/ice"),
        ({"username": "gw", "commands": {"users": {"alice": "root"}}}, {}, "users.alice"),
        ({"tls": {"cert_file": "c.pem"}}, {}, "cert_file and key_file go together"),
        ({"tls": {"insecure": True}}, {}, "mqtt.tls.insecure"),
        ({"password_file": "pw"}, {}, "password_file needs a username"),
        (
            {"sensors": [{"id": "x", "kind": "water_leak", "topic": "z/x", "zone": "nowhere"}]},
            {},
            "mqtt.sensors[0].zone",
        ),
        (
            {"sensors": [{"id": "x", "kind": "ups_on_battery", "topic": "z/x"}]},
            {},
            "needs key",
        ),
        (
            {"sensors": [{"id": "x", "kind": "water_leak", "topic": "sekisho/hq/cmd/x"}]},
            {},
            "under Sekisho's own prefix",
        ),
        (
            {"sensors": [{"id": "s1", "kind": "water_leak", "topic": "z/s1"}]},
            {"sensors": [{"id": "s1", "kind": "smoke", "module": "io1", "input": 5}]},
            "appears twice",
        ),
    ],
)
def test_bad_sections_are_refused_with_their_path(
    mqtt: dict[str, Any], extra: dict[str, Any], says: str
) -> None:
    """Every mistake names where it is."""
    assert says in _problems(mqtt, **extra)


def test_site_roles_are_the_api_roles() -> None:
    """Role names in the site file and the command table are exactly the API's."""
    assert set(get_args(SiteRole)) == set(ROLES) == {r.value for r in Role}


@pytest.mark.parametrize("command", list(Command))
def test_command_rights_match_the_api(command: Command) -> None:
    """Whoever may do it over MQTT may do it in the API, and nobody else (same table)."""
    permission = Permission(API_PERMISSION[command])
    assert COMMAND_ROLES[command] == {r.value for r in PERMISSIONS[permission]}


# --- topics -----------------------------------------------------------------------------------


def test_command_topics_parse_exactly() -> None:
    """<prefix>/cmd/<user>/<door|zone|alarm>/<id>, nothing more, nothing less."""
    got = T.parse_command("sekisho/hq/cmd/alice/door/sr-door")
    assert got is not None and (got.user, got.target_kind, got.target_id) == (
        "alice",
        "door",
        "sr-door",
    )
    for bad in (
        "sekisho/hq/cmd/alice/door",
        "sekisho/hq/cmd/alice/door/x/y",
        "sekisho/hq/cmd/alice/gate/x",
        "sekisho/hq/cmd//door/x",
        "sekisho/hqx/cmd/alice/door/x",
        "other/cmd/alice/door/x",
    ):
        assert T.parse_command(bad) is None, bad
    assert T.command_user("sekisho/hq/cmd/bob/whatever") == "bob"


# --- payloads -----------------------------------------------------------------------------------

CARD_FORMATS = st.sampled_from(["H10301", "C1000", "H10304", "EM4100", "h10301"])
CARD_KEYS = st.builds(
    lambda f, a, b: f"{f}:{a}:{b}", CARD_FORMATS, st.integers(0, 65535), st.integers(0, 10**9)
)
TEXT = st.text(max_size=20) | CARD_KEYS.map(lambda k: f"card {k} seen")
DETAIL = st.recursive(
    TEXT | st.integers() | st.booleans() | st.none(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["pin", "PIN", "note", "card_key", "x", "pass"]), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@given(DETAIL, CARD_KEYS)
@settings(max_examples=200, deadline=None)
def test_no_card_key_or_pin_survives_redaction(detail: Any, key: str) -> None:
    """Whatever a record's detail holds, its event carries no whole card key, no PIN field."""
    rec = NewRecord(
        RecordKind.ACCESS,
        NOW,
        credential="H10301:…456",
        detail={"d": detail, "pin": "1234", "note": key},
    )
    body = payloads.record_event("hq", 7, rec).decode()
    data = json.loads(body)
    assert "credential" not in data
    assert not payloads._CARD_KEY.search(body)

    def keys(v: Any) -> set[str]:
        """Every key at any depth, lower case."""
        if isinstance(v, dict):
            return {k.lower() for k in v} | {x for val in v.values() for x in keys(val)}
        if isinstance(v, list):
            return {x for val in v for x in keys(val)}
        return set()

    assert not {"pin", "card_key", "pass"} & keys(data["detail"])


class _Colour(Enum):
    """An enum value in a detail."""

    RED = "red H10301:1:2"


@dataclasses.dataclass(frozen=True)
class _Shape:
    """A dataclass in a detail, one field named like a secret."""

    name: str
    pin: str


ODD_VALUES = st.recursive(
    st.text(max_size=12)
    | CARD_KEYS
    | st.integers()
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.datetimes(timezones=st.just(UTC))
    | st.sampled_from([_Colour.RED, _Shape("x H10304:3:4", "1234"), b"bytes", 2 + 3j]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.frozensets(st.integers(), max_size=3)
        | st.dictionaries(
            st.sampled_from(["pin", "note", 7, "card_key", "Token", "x", ("a", 1)]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@given(ODD_VALUES)
@settings(max_examples=300, deadline=None)
def test_one_pass_clean_is_plain_then_redact(value: Any) -> None:
    """``clean`` (the event's one pass) gives exactly ``redact(plain(value))`` for any value:
    the fast path weakens nothing."""
    assert payloads.clean(value) == payloads.redact(payloads.plain(value))


def _reference_event(site_id: str, seq: int, rec: NewRecord) -> bytes:
    """The event as it was made before the one-pass path: plain, redact, json.dumps."""
    data = {name: payloads.plain(getattr(rec, name)) for name in payloads.EVENT_FIELDS}
    data["detail"] = payloads.redact(data.get("detail") or {})
    return json.dumps(
        {"site_id": site_id, "seq": seq, **data}, ensure_ascii=False, separators=(",", ":")
    ).encode()


@given(DETAIL, st.sampled_from(list(RecordKind)), st.text(max_size=10) | st.none())
@settings(max_examples=200, deadline=None)
def test_record_events_are_byte_for_byte_the_reference(
    detail: Any, kind: RecordKind, text: str | None
) -> None:
    """The hand-joined event equals ``json.dumps`` of the plain, redacted record."""
    rec = NewRecord(
        kind,
        NOW,
        door_id=text,
        reason=text,
        actor="mqtt:alice",
        credential="H10301:…456",
        detail={"d": detail, "pin": "1234", "n": 3, "ok": True},
    )
    assert payloads.record_event("hq", 7, rec) == _reference_event("hq", 7, rec)
    assert payloads.record_event("hq", 8, NewRecord(kind, NOW)) == _reference_event(
        "hq", 8, NewRecord(kind, NOW)
    )


def test_which_records_go_out() -> None:
    """Access, door, reader, module, sensor, zone, system and MQTT records go out; operator,
    login, audit, incident and alarm records (alarms have their own topic) and duress don't."""
    for kind in ("access.decision", "door.forced", "sensor.state", "system", "zone.lockdown"):
        assert payloads.publishes(kind), kind
    for kind in (
        "operator.login_failed",
        "operator.action",
        "audit.export",
        "incident.note",
        "alarm.raised",
        "access.duress",
    ):
        assert not payloads.publishes(kind), kind


def test_discovery_covers_every_door_reader_and_sensor() -> None:
    """One lock and one door contact per door, tamper and link per reader, a sensor or binary
    sensor per environment sensor (with its fault), and the active-alarm count."""
    raw = site_dict(
        "hq",
        {
            "sensors": [
                {"id": "leak", "kind": "water_leak", "topic": "z/leak", "zone": "server-room"},
                {"id": "t", "kind": "temperature", "topic": "z/clim"},
            ]
        },
        sensors=[{"id": "smoke", "kind": "smoke", "module": "io1", "input": 7}],
    )
    site = parse_site(json.dumps(raw), Path("s.yaml"))
    got = {a.topic: a.config for a in announcements(site, T, "homeassistant", version="1.0")}
    comps = sorted(t.split("/")[1] for t in got)
    assert comps.count("lock") == 2
    classes = {str(c.get("device_class")) for c in got.values()}
    assert {"door", "tamper", "connectivity", "smoke", "moisture", "temperature"} <= classes
    temp = got["homeassistant/sensor/sekisho_hq_sensor_t/config"]
    assert (temp["unit_of_measurement"], temp["state_class"]) == ("°C", "measurement")
    assert temp["state_topic"] == "sekisho/hq/sensor/t/state"
    assert all(c["availability_topic"] == "sekisho/hq/status" for c in got.values())
    assert len({c["unique_id"] for c in got.values()}) == len(got)


# --- command checks -------------------------------------------------------------------------

GATE_CFG = MqttCommands(users={"alice": "operator", "audrey": "auditor"}, max_age_s=30)


def _msg(
    topic: str, body: dict[str, Any] | bytes, *, retain: bool = False, expiry: int | None = None
) -> Incoming:
    """A delivered command message."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Incoming(topic, payload, retain, expiry, 0)


def _refusal(msg: Incoming, gate: CommandGate | None = None) -> Refusal:
    """Why the gate refuses ``msg``."""
    with pytest.raises(CommandRefused) as err:
        (gate or CommandGate(GATE_CFG, T)).admit(msg, NOW)
    return err.value.reason


DOOR = "sekisho/hq/cmd/alice/door/sr-door"
FRESH = NOW.isoformat()


def test_a_fresh_command_from_a_mapped_user_is_admitted() -> None:
    """Timestamp within max_age, or an MQTT message expiry within it: admitted."""
    gate = CommandGate(GATE_CFG, T)
    req = gate.admit(_msg(DOOR, {"action": "UNLOCK", "ts": FRESH, "note": "n"}), NOW)
    assert (req.user, req.role, req.command, req.target, req.note) == (
        "alice",
        "operator",
        Command.DOOR_UNLOCK,
        "sr-door",
        "n",
    )
    assert req.actor == "mqtt:alice"
    assert (
        gate.admit(_msg(DOOR, {"action": "unlock"}, expiry=10), NOW).command is Command.DOOR_UNLOCK
    )


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (_msg(DOOR, {"action": "unlock", "ts": FRESH}, retain=True), Refusal.RETAINED),
        (_msg("sekisho/hq/cmd/alice/door", {"action": "unlock"}), Refusal.MALFORMED_TOPIC),
        (
            _msg("sekisho/hq/cmd/bob/door/x", {"action": "unlock", "ts": FRESH}),
            Refusal.UNKNOWN_USER,
        ),
        (_msg(DOOR, b"x" * 5000), Refusal.TOO_LARGE),
        (_msg(DOOR, b"{not json"), Refusal.MALFORMED),
        (_msg(DOOR, {"action": "unlock", "ts": FRESH, "extra": 1}), Refusal.MALFORMED),
        (_msg(DOOR, {"action": "unlock", "ts": "2026-11-27T09:00:00"}), Refusal.MALFORMED),
        (_msg(DOOR, {"action": "open", "ts": FRESH}), Refusal.UNSUPPORTED),
        (_msg(DOOR, {"action": "unlock"}), Refusal.NOT_FRESH),
        (_msg(DOOR, {"action": "unlock"}, expiry=3600), Refusal.EXPIRY_TOO_LONG),
        (
            _msg(DOOR, {"action": "unlock", "ts": (NOW - timedelta(seconds=31)).isoformat()}),
            Refusal.STALE,
        ),
        (
            _msg(DOOR, {"action": "unlock", "ts": (NOW + timedelta(seconds=6)).isoformat()}),
            Refusal.FROM_FUTURE,
        ),
        (
            _msg("sekisho/hq/cmd/audrey/door/sr-door", {"action": "unlock", "ts": FRESH}),
            Refusal.FORBIDDEN,
        ),
    ],
)
def test_refusals(msg: Incoming, reason: Refusal) -> None:
    """Each way a command can be wrong has its own recorded reason."""
    assert _refusal(msg) is reason


def test_a_command_is_taken_once() -> None:
    """The same id (or, without one, the same ts) on the same topic is refused the second
    time, within the freshness window; other users' and later ids are not affected."""
    gate = CommandGate(GATE_CFG, T)
    gate.admit(_msg(DOOR, {"action": "unlock", "ts": FRESH, "id": "a"}), NOW)
    assert (
        _refusal(_msg(DOOR, {"action": "unlock", "ts": FRESH, "id": "a"}), gate)
        is Refusal.DUPLICATE
    )
    gate.admit(_msg(DOOR, {"action": "unlock", "ts": FRESH, "id": "b"}), NOW)
    gate.admit(_msg(DOOR, {"action": "unlock", "ts": FRESH}), NOW)
    assert _refusal(_msg(DOOR, {"action": "unlock", "ts": FRESH}), gate) is Refusal.DUPLICATE


@given(st.binary(max_size=3000), st.booleans(), st.none() | st.integers(0, 10_000))
@settings(max_examples=300, deadline=None)
def test_no_command_payload_gets_past_the_gate_by_accident(
    payload: bytes, retain: bool, expiry: int | None
) -> None:
    """Whatever bytes arrive on a command topic, the gate admits a well-formed command or
    refuses with a reason; nothing else is ever raised."""
    gate = CommandGate(GATE_CFG, T)
    try:
        req = gate.admit(Incoming(DOOR, payload, retain, expiry, 0), NOW)
    except CommandRefused:
        return  # refused with a reason: what junk should get
    assert req.command is Command.DOOR_UNLOCK and not retain


# --- start-up line ----------------------------------------------------------------------------


def test_start_up_says_whether_mqtt_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The banner names the broker and prefix, or says MQTT is off; the demo needs no broker."""
    on = parse_site(_yaml({"host": "10.0.0.5", "port": 8883, "tls": {}}), Path("s.yaml"))
    assert describe_mqtt(on).split(":", 1)[1].split() == [
        "10.0.0.5:8883",
        "over",
        "TLS,",
        "topics",
        "under",
        "sekisho/hq/,",
        "Home",
        "Assistant",
        "discovery",
        "on",
        "homeassistant/",
    ]
    off = parse_site(_yaml({"enabled": False}), Path("s.yaml"))
    assert "off" in describe_mqtt(off)
    monkeypatch.delenv("SEKISHO_DEMO_MQTT", raising=False)
    assert demo_mqtt() is None
    assert "MQTT:       off, no broker needed" in banner(Path("/d"), 8080, "sekisho")
    monkeypatch.setenv("SEKISHO_DEMO_MQTT", "127.0.0.1:1883")
    assert demo_mqtt() == {"host": "127.0.0.1", "port": 1883}
    monkeypatch.setenv("SEKISHO_DEMO_MQTT", "nonsense")
    with pytest.raises(DemoError, match="host:port"):
        demo_mqtt()
