"""Commands over MQTT on the simulated site: authenticated users, roles, freshness, no replay.

Our own Mosquitto with a password file and the ACL of docs/mqtt.md (user U publishes only
under <prefix>/cmd/U/#); the gateway reaches it through a TCP cutter so that its connection can
be dropped while the broker stays up. The site is firmware-sim's (OSDP, Modbus TCP) with real
drivers, so "the strike is released" is read off the simulated I/O module's coil.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.domain import DoorMode
from gateway.records import NewRecord, RecordKind
from sekisho.simulated import SimulatedSite, start_simulated_site, stop_simulated_site
from tests.mqtt.broker import Cutter, Mosquitto, Observer, wait_until
from tests.mqtt.conftest import BrokerFactory
from tests.mqtt.rig import GATEWAY_USER, PASSWORDS, write_password

PREFIX = "sekisho/demo-hq"  # the demo site's id


@dataclass
class World:
    """The running site, its broker, the cutter between them, and the users' clients."""

    site: SimulatedSite
    broker: Mosquitto
    cutter: Cutter
    users: dict[str, Observer]

    def send(self, user: str, kind: str, target: str, *, retain: bool = False, **body: Any) -> str:
        """Publish a command as ``user`` (fresh ``ts`` unless given); returns the PUBACK reason."""
        body.setdefault("ts", datetime.now(UTC).isoformat())
        payload = json.dumps({k: v for k, v in body.items() if v is not None})
        return self.send_raw(user, f"{PREFIX}/cmd/{user}/{kind}/{target}", payload, retain=retain)

    def send_raw(self, user: str, topic: str, payload: str | bytes, *, retain: bool = False) -> str:
        """Publish anything as ``user``; returns the broker's PUBACK reason."""
        info = self.users[user].publish(topic, payload, retain=retain)
        return self.users[user].ack_of(info)

    def refusals(self, after: int = 0) -> list[NewRecord]:
        """``mqtt.command_refused`` records written after seq ``after``."""
        return [
            r
            for s, r in self.site.written
            if s > after and r.kind is RecordKind.MQTT_COMMAND_REFUSED
        ]

    def unlocks(self, after: int = 0) -> list[NewRecord]:
        """Desk unlock records written after seq ``after``."""
        return [r for s, r in self.site.written if s > after and r.kind is RecordKind.DOOR_UNLOCK]

    def replies(self, user: str) -> list[dict[str, Any]]:
        """What the gateway answered ``user``."""
        return [json.loads(m.payload) for m in self.users[user].on(f"{PREFIX}/reply/{user}")]


@pytest.fixture
async def world(tmp_path: Path, own_broker: BrokerFactory) -> AsyncIterator[World]:
    """The simulated site with MQTT on our own authenticating broker, through a cutter."""
    broker = own_broker(PREFIX)
    cutter = await Cutter(broker.port).start()
    data_dir = tmp_path / "site"
    data_dir.mkdir()
    password_file = write_password(data_dir)

    def patch(raw: dict[str, Any]) -> None:
        """Add the mqtt: section (through the cutter) to the site file."""
        raw["mqtt"] = {
            "port": cutter.port,
            "username": GATEWAY_USER,
            "password_file": password_file,
            "reconnect_max_s": 1,
            "discovery": {"enabled": False},
            "commands": {
                "users": {"alice": "operator", "audrey": "auditor", "homeassistant": "operator"}
            },
        }

    site = await start_simulated_site(data_dir, site_patch=patch)
    users: dict[str, Observer] = {}
    try:
        assert site.mqtt is not None
        await wait_until(lambda: site.mqtt is not None and site.mqtt.status().connected)
        for name in ("alice", "audrey", "stranger", "mallory", "homeassistant"):
            users[name] = Observer(broker.port, username=name, password=PASSWORDS[name]).start(
                f"{PREFIX}/reply/{name}"
            )
        yield World(site, broker, cutter, users)
    finally:
        for o in users.values():
            o.stop()
        await stop_simulated_site(site)
        await cutter.stop()


async def test_an_authorised_unlock_releases_the_strike(world: World) -> None:
    """An operator's unlock over MQTT drives the real strike coil, recorded with the MQTT user
    as actor before the strike moves; Home Assistant's lock command does the same."""
    site = world.site
    after = site.last_seq
    assert not site.sim.door_view("sr-door")["strike_released"]
    world.send("alice", "door", "sr-door", action="unlock", id="c1", note="courier")
    await site.wait_until(
        lambda: site.sim.door_view("sr-door")["strike_released"], what="strike released"
    )
    (rec,) = world.unlocks(after)
    assert (rec.door_id, rec.actor, rec.detail) == ("sr-door", "mqtt:alice", {"note": "courier"})
    await wait_until(lambda: bool(world.replies("alice")), what="reply")
    reply = world.replies("alice")[-1]
    assert reply["ok"] is True and reply["id"] == "c1" and reply["command"] == "door.unlock"
    # Home Assistant's lock: payload rendered from its command_template (action + now())
    ha_ts = datetime.now(UTC).astimezone().isoformat()
    world.send_raw(
        "homeassistant",
        f"{PREFIX}/cmd/homeassistant/door/vault-door",
        json.dumps({"action": "UNLOCK", "ts": ha_ts}),
    )
    await site.wait_until(
        lambda: site.sim.door_view("vault-door")["strike_released"], what="vault strike"
    )
    assert world.unlocks(after)[-1].actor == "mqtt:homeassistant"
    assert world.refusals(after) == []


async def test_every_other_command_is_refused_and_recorded(world: World) -> None:
    """Wrong role, unknown user, stale, untimed, retained, unsupported or malformed commands,
    and a repeat, are refused, recorded with the reason, and move no strike."""
    site = world.site
    after = site.last_seq
    stale = (datetime.now(UTC) - timedelta(seconds=90)).isoformat()
    future = (datetime.now(UTC) + timedelta(seconds=90)).isoformat()
    world.send("audrey", "door", "sr-door", action="unlock", id="a1")  # auditor: no right
    world.send("stranger", "door", "sr-door", action="unlock")  # not in the site file
    world.send("alice", "door", "sr-door", action="unlock", ts=stale)
    world.send("alice", "door", "sr-door", action="unlock", ts=future)
    world.send_raw("alice", f"{PREFIX}/cmd/alice/door/sr-door", '{"action": "unlock"}')
    world.send("alice", "door", "sr-door", action="unlock", retain=True)
    world.send("alice", "door", "sr-door", action="LOCK")  # doors relock by themselves
    world.send_raw("alice", f"{PREFIX}/cmd/alice/door/sr-door", b"\xff\x00 not json")
    world.send("alice", "door", "no-such-door", action="unlock")
    world.send_raw("alice", f"{PREFIX}/cmd/alice/gate/sr-door", b"{}")
    expected = [
        ("mqtt:audrey", "forbidden"),
        ("mqtt:stranger", "unknown_user"),
        ("mqtt:alice", "stale"),
        ("mqtt:alice", "from_future"),
        ("mqtt:alice", "no_timestamp"),
        ("mqtt:alice", "retained"),
        ("mqtt:alice", "unsupported"),
        ("mqtt:alice", "malformed"),
        ("mqtt:alice", "unknown_target"),
        ("mqtt:alice", "malformed_topic"),
    ]
    await wait_until(lambda: len(world.refusals(after)) >= len(expected), what="refusals")
    got = [(r.actor, r.reason) for r in world.refusals(after)]
    assert got == expected
    first = world.refusals(after)[0]
    assert (
        first.door_id == "sr-door" and first.detail["topic"] == f"{PREFIX}/cmd/audrey/door/sr-door"
    )
    # a command taken once is not taken twice (same id)
    world.send("alice", "door", "vault-door", action="unlock", id="once")
    world.send("alice", "door", "vault-door", action="unlock", id="once")
    await wait_until(lambda: len(world.refusals(after)) > len(expected), what="duplicate")
    assert world.refusals(after)[-1].reason == "duplicate"
    assert [r.door_id for r in world.unlocks(after)] == ["vault-door"]
    assert not site.sim.door_view("sr-door")["strike_released"]
    await wait_until(lambda: bool(world.replies("audrey")), what="audrey's reply")
    (reply,) = world.replies("audrey")
    assert (reply["ok"], reply["reason"], reply["id"]) == (False, "forbidden", "a1")


async def test_the_broker_stops_one_user_commanding_as_another(world: World) -> None:
    """The ACL lets mallory publish only under cmd/mallory: cmd/alice is refused by the broker
    (MQTT v5 PUBACK "Not authorized"), so the gateway never sees it."""
    site = world.site
    after = site.last_seq
    ack = world.send_raw(
        "mallory",
        f"{PREFIX}/cmd/alice/door/sr-door",
        json.dumps({"action": "unlock", "ts": datetime.now(UTC).isoformat()}),
    )
    world.send("alice", "door", "vault-door", action="unlock", id="probe")
    await wait_until(lambda: bool(world.unlocks(after)), what="the probe command")
    assert [r.door_id for r in world.unlocks(after)] == ["vault-door"]
    assert world.refusals(after) == []
    assert ack == "Not authorized"


async def test_no_command_is_replayed_after_a_reconnect(world: World) -> None:
    """Commands published while the gateway is away (plain or retained) are never carried
    out when it comes back: no broker session, retained commands not sent to us."""
    site = world.site
    mqtt = site.mqtt
    assert mqtt is not None
    world.cutter.cut()
    await wait_until(lambda: not mqtt.status().connected, what="gateway away")
    after = site.last_seq
    world.send("alice", "door", "sr-door", action="unlock", id="while-away")
    world.send("alice", "door", "sr-door", action="unlock", id="retained", retain=True)
    world.cutter.restore()
    await wait_until(lambda: mqtt.status().connected, what="gateway back")
    world.send("alice", "door", "vault-door", action="unlock", id="probe")
    await wait_until(lambda: bool(world.unlocks(after)), what="the probe command")
    assert [r.door_id for r in world.unlocks(after)] == ["vault-door"]
    assert world.refusals(after) == []  # the retained one was never even delivered
    assert not site.sim.door_view("sr-door")["strike_released"]
    world.send_raw("alice", f"{PREFIX}/cmd/alice/door/sr-door", b"", retain=True)  # tidy


async def test_lockdown_and_alarm_acknowledge_over_mqtt(world: World) -> None:
    """Zone lockdown (4-8-11(2) containment) and alarm acknowledgement by an operator."""
    site = world.site
    mqtt = site.mqtt
    assert mqtt is not None and site.stack is not None
    zone_topic = f"{PREFIX}/zone/media-vault/state"
    watcher = Observer(world.broker.port, username="observer", password=PASSWORDS["observer"])
    watcher.start(zone_topic, f"{PREFIX}/alarm/#")
    try:
        world.send("alice", "zone", "media-vault", action="lockdown", note="drill")
        await wait_until(
            lambda: all(
                d.mode is DoorMode.LOCKED_DOWN
                for d in site.gateway.doors()
                if d.zone_id == "media-vault"
            ),
            what="vault doors locked down",
        )
        await wait_until(
            lambda: any(json.loads(m.payload)["locked_down"] for m in watcher.on(zone_topic)),
            what="zone state says locked down",
        )
        world.send("alice", "zone", "media-vault", action="release", note="drill over")
        await wait_until(
            lambda: all(d.mode is not DoorMode.LOCKED_DOWN for d in site.gateway.doors()),
            what="released",
        )
        # a forced door raises an alarm; alice acknowledges it over MQTT
        await site.sim.door("vault-door", "force")
        await wait_until(lambda: bool(site.stack and site.stack.alarms.active()), what="alarm")
        alarm = site.stack.alarms.active()[0]
        await wait_until(
            lambda: any(
                json.loads(m.payload)["alarm_id"] == alarm.alarm_id
                for m in watcher.on(f"{PREFIX}/alarm/event")
            ),
            what="alarm event published",
        )
        world.send("alice", "alarm", alarm.alarm_id, action="acknowledge", note="on my way")
        await wait_until(
            lambda: (
                site.stack is not None
                and site.stack.alarms.get(alarm.alarm_id).acknowledged_by == "mqtt:alice"
            ),
            what="acknowledged by alice",
        )
        assert site.stack.alarms.get(alarm.alarm_id).note == "on my way"
        await site.sim.door("vault-door", "close")
    finally:
        watcher.stop()
