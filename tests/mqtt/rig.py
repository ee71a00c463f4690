"""A small real gateway (no devices) with the MQTT service, for bus-level tests.

The Gateway, its SQLite record log and outbox, the paho link and the broker are all real; the
site simply has no drivers, so its doors stay in fault and records come from ``record()``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from devices.mqtt.from_site import build_link
from devices.mqtt.paho_link import PahoLink
from gateway.alarms.stack import AlarmStack
from gateway.config.site import SiteConfig
from gateway.core_events import RecordWritten
from gateway.mqtt.service import MqttService
from gateway.records import NewRecord
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade

GATEWAY_USER = "sekisho"
PASSWORDS = {
    GATEWAY_USER: "gw-" + "x7Kq2p",
    "alice": "alice-pw",  # operator
    "audrey": "audrey-pw",  # auditor
    "stranger": "stranger-pw",  # a broker account the site file does not map
    "mallory": "mallory-pw",  # tries to publish as alice
    "observer": "observer-pw",
    "homeassistant": "ha-pw",
}


def site_dict(site_id: str, mqtt: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A site with two zones, two doors and a reader each, and no drivers."""
    raw: dict[str, Any] = {
        "site": {"id": site_id, "name": f"Test site {site_id}"},
        "readers": [
            {"id": "sr-in", "kind": "rdm6300", "port": "/dev/null"},
            {"id": "vault-in", "kind": "rdm6300", "port": "/dev/null"},
        ],
        "modules": [{"id": "io1", "port": 1502}],
        "zones": [
            {"id": "server-room", "name": "Server room"},
            {"id": "media-vault", "name": "Media vault", "kind": "media_vault"},
        ],
        "doors": [
            {
                "id": "sr-door",
                "name": "Server room door",
                "zone": "server-room",
                "entry_reader": "sr-in",
                "module": "io1",
                "strike_output": 0,
                "contact_input": 0,
            },
            {
                "id": "vault-door",
                "name": "Vault door",
                "zone": "media-vault",
                "entry_reader": "vault-in",
                "module": "io1",
                "strike_output": 1,
                "contact_input": 1,
            },
        ],
        **extra,
    }
    if mqtt is not None:
        raw["mqtt"] = mqtt
    return raw


def new_site_id() -> str:
    """A site id no other test uses (topics on the shared broker stay apart)."""
    return f"t{secrets.token_hex(4)}"


def write_password(base: Path, user: str = GATEWAY_USER) -> str:
    """The gateway's password file (0600) under ``base``; returns its relative name."""
    path = base / "mqtt.pw"
    path.write_text(PASSWORDS[user] + "\n", encoding="utf-8")
    path.chmod(0o600)
    return "mqtt.pw"


@dataclass
class Rig:
    """A running gateway with its MQTT service."""

    gateway: Gateway
    service: MqttService
    link: PahoLink
    engine: Engine
    config: SiteConfig
    stack: AlarmStack | None = None
    written: list[tuple[int, NewRecord]] = field(default_factory=list)

    def records(self, pred: Callable[[NewRecord], bool]) -> list[NewRecord]:
        """Committed records that satisfy ``pred``."""
        return [r for _, r in self.written if pred(r)]


async def start_rig(
    base: Path, raw: dict[str, Any], *, engine: Engine | None = None, alarm_stack: bool = False
) -> Rig:
    """Start the service (first, as the composition root does), then the gateway.

    ``base`` is the site file's folder (it must exist): the password file is looked up there.
    """
    config = SiteConfig.model_validate(raw)
    assert config.mqtt is not None
    if engine is None:
        engine = make_engine(sqlite_path=base / "sekisho.db")
        upgrade(engine)
    gateway = Gateway(config, engine)
    stack = AlarmStack.attach(gateway, engine) if alarm_stack else None
    link = build_link(config.mqtt, config.site.id, base)
    alarms = stack.alarms if stack is not None else None
    service = MqttService(gateway, engine, link, alarms=alarms, zones=gateway)
    rig = Rig(gateway, service, link, engine, config, stack)
    gateway.bus.subscribe(RecordWritten, lambda e: rig.written.append((e.seq, e.record)))
    await service.start()
    if stack is not None:
        await stack.start()
    await gateway.start()
    return rig


async def stop_rig(rig: Rig, *, dispose: bool = True) -> None:
    """Stop the alarms, the gateway, then the service (as the composition root does)."""
    if rig.stack is not None:
        await rig.stack.stop()
    await rig.gateway.stop()
    await rig.service.stop()
    if dispose:
        rig.engine.dispose()
