"""The site file's ``mqtt:`` section: broker, TLS, topic prefix, discovery, command users, sensors.

Commands are taken only over an authenticated connection: the broker checks passwords and an
ACL lets user U publish only under ``<prefix>/cmd/U/#``; ``commands.users`` maps those MQTT
usernames to Sekisho roles (4-8-2). TLS (4-8-6(10)) verifies the broker's certificate and host
name; turning verification off is not offered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.environment.config import ThresholdConfig
from gateway.environment.model import SensorKind

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
# One or more topic levels, no wildcards, no empty level, no leading or trailing slash.
_TOPIC = re.compile(r"^[^/#+\x00]+(/[^/#+\x00]+)*$")
# An MQTT username usable as one topic level (the broker's ACL pattern %u).
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,58}$")

# zigbee2mqtt's JSON key for each kind (its "exposes" names); UPS kinds have none.
DEFAULT_KEYS: dict[SensorKind, str] = {
    SensorKind.SMOKE: "smoke",
    SensorKind.WATER_LEAK: "water_leak",
    SensorKind.TEMPERATURE: "temperature",
    SensorKind.HUMIDITY: "humidity",
    SensorKind.INTRUSION: "occupancy",
    SensorKind.ENCLOSURE_TAMPER: "tamper",
}

# The API's role names (api.roles.Role values; tests/mqtt compares them).
Role = Literal["chief", "manager", "operator", "auditor", "admin"]


class _Strict(BaseModel):
    """Unknown keys are an error, values are immutable (as everywhere in the site file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _topic(value: str, what: str) -> str:
    """Check a topic (or prefix) without wildcards; return it."""
    if not _TOPIC.match(value) or len(value.encode()) > 200:
        raise ValueError(
            f"{what} {value!r} is not a topic: levels separated by '/', no '+', '#', "
            "empty level or leading/trailing '/', at most 200 bytes"
        )
    return value


class MqttTls(_Strict):
    """TLS to the broker; the broker's certificate and host name are always verified."""

    ca_file: str | None = None  # PEM CA bundle that signed the broker (None: the system's CAs)
    cert_file: str | None = None  # client certificate (PEM), for brokers that ask for one
    key_file: str | None = None  # its private key (PEM, unencrypted, mode 0600)
    insecure: Literal[False] = False  # certificate/host-name checks cannot be switched off

    @model_validator(mode="after")
    def _pair(self) -> Self:
        """A client certificate needs its key."""
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls: cert_file and key_file go together")
        return self


class MqttDiscovery(_Strict):
    """Home Assistant MQTT discovery."""

    enabled: bool = True
    prefix: str = "homeassistant"  # Home Assistant's discovery prefix; its status topic too
    command_user: str = "homeassistant"  # the MQTT user Home Assistant publishes commands as

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        """The prefix is a plain topic."""
        return _topic(v, "discovery.prefix")

    @field_validator("command_user")
    @classmethod
    def _user(cls, v: str) -> str:
        """The user must fit in one topic level."""
        if not _USER.match(v):
            raise ValueError(f"{v!r} is not usable as an MQTT username in a topic")
        return v


class MqttCommands(_Strict):
    """Who may send commands, as which role, and how fresh a command must be."""

    users: dict[str, Role] = Field(default_factory=dict)  # MQTT username -> Sekisho role
    max_age_s: float = Field(default=30.0, gt=0, le=600)  # older commands are refused as stale
    clock_skew_s: float = Field(default=5.0, ge=0, le=60)  # allowed "from the future"
    refusals_per_minute: int = Field(default=60, ge=1, le=10_000)  # recorded per user

    @field_validator("users")
    @classmethod
    def _users(cls, users: dict[str, str]) -> dict[str, str]:
        """Every mapped user must fit in one topic level."""
        for name in users:
            if not _USER.match(name):
                raise ValueError(
                    f"commands.users: {name!r} is not usable as an MQTT username in a topic "
                    "(letters, digits, _ . @ -; at most 59)"
                )
        return users


class MqttSensorConfig(_Strict):
    """A sensor that publishes JSON to the broker (zigbee2mqtt style), mapped to an input."""

    id: Ident
    name: str = ""
    kind: SensorKind
    topic: str  # the device's state topic, e.g. zigbee2mqtt/server-room-leak
    key: str | None = Field(default=None, min_length=1, max_length=64)  # JSON key; by kind
    zone: Ident | None = None
    interval_s: float = Field(default=3600.0, ge=1, le=7 * 86_400)  # silent longer: a fault
    unit: str | None = Field(default=None, max_length=16)
    thresholds: ThresholdConfig | None = None  # analog kinds: HIGH/LOW with hysteresis
    valid_min: float | None = None  # analog kinds: outside [valid_min, valid_max] is a fault
    valid_max: float | None = None

    @field_validator("topic")
    @classmethod
    def _topic_ok(cls, v: str) -> str:
        """The sensor's topic is a plain topic."""
        return _topic(v, "topic")

    @model_validator(mode="after")
    def _by_kind(self) -> Self:
        """Keys and thresholds that fit the kind."""
        if self.key is None and self.kind not in DEFAULT_KEYS:
            raise ValueError(f"a {self.kind.value} sensor needs key: (no zigbee2mqtt default)")
        if not self.kind.analog and (
            self.thresholds is not None or self.valid_min is not None or self.valid_max is not None
        ):
            raise ValueError(f"a {self.kind.value} sensor takes no thresholds or valid range")
        if (
            self.valid_min is not None
            and self.valid_max is not None
            and not self.valid_min < self.valid_max
        ):
            raise ValueError("valid_min must be below valid_max")
        return self

    @property
    def json_key(self) -> str:
        """The JSON key read from the payload."""
        return self.key if self.key is not None else DEFAULT_KEYS[self.kind]

    @property
    def shown_unit(self) -> str:
        """The unit values are shown in."""
        return self.unit if self.unit is not None else self.kind.default_unit


class MqttConfig(_Strict):
    """The broker connection and what Sekisho does on it."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str | None = Field(default=None, min_length=1, max_length=64)  # sekisho-<site>
    username: str | None = Field(default=None, min_length=1, max_length=64)
    password_file: str | None = None  # file holding the password, relative to the site file
    tls: MqttTls | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_max_s: float = Field(default=30.0, ge=1, le=600)
    prefix: str | None = None  # topic prefix; default sekisho/<site id>
    discovery: MqttDiscovery = MqttDiscovery()
    commands: MqttCommands = MqttCommands()
    sensors: list[MqttSensorConfig] = Field(default_factory=list)
    outbox_max_rows: int = Field(default=1_000_000, ge=100)  # beyond: new events are not kept

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        """The prefix is a plain topic."""
        return None if v is None else _topic(v, "prefix")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Credentials and command users that make sense together."""
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        if self.commands.users and self.username is None:
            raise ValueError(
                "commands.users: commands are taken only over an authenticated connection; "
                "set username (and the broker's password file and ACL, see docs/mqtt.md)"
            )
        if self.username is not None and self.username in self.commands.users:
            raise ValueError(f"commands.users: {self.username!r} is the gateway's own user")
        return self

    def topic_prefix(self, site_id: str) -> str:
        """The prefix every Sekisho topic starts with."""
        return self.prefix if self.prefix is not None else f"sekisho/{site_id}"

    def client_id_for(self, site_id: str) -> str:
        """The MQTT client id (one connection per site)."""
        return self.client_id if self.client_id is not None else f"sekisho-{site_id}"


def check_mqtt(
    cfg: MqttConfig, *, site_id: str, zones: Iterable[str], sensor_ids: Iterable[str]
) -> None:
    """Cross-check the section against the rest of the site file; messages start with a path."""
    zone_ids, taken = set(zones), set(sensor_ids)
    prefix = cfg.topic_prefix(site_id)
    seen: set[str] = set()
    for i, s in enumerate(cfg.sensors):
        path = f"mqtt.sensors[{i}]"
        if s.id in seen or s.id in taken:
            raise ValueError(f"{path}.id: {s.id!r} appears twice (sensor ids are site-wide)")
        seen.add(s.id)
        if s.zone is not None and s.zone not in zone_ids:
            raise ValueError(f"{path}.zone: unknown zone {s.zone!r}")
        if s.topic == prefix or s.topic.startswith(prefix + "/"):
            raise ValueError(f"{path}.topic: {s.topic!r} is under Sekisho's own prefix")
