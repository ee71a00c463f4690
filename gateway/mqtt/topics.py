"""The topic scheme under one prefix (default ``sekisho/<site-id>``); see ``docs/mqtt.md``."""

from __future__ import annotations

from dataclasses import dataclass

ONLINE = b"online"
OFFLINE = b"offline"

# What a command topic names: <prefix>/cmd/<user>/<target kind>/<target id>
TARGET_KINDS = ("door", "zone", "alarm")


@dataclass(frozen=True, slots=True)
class CommandTopic:
    """A parsed command topic."""

    user: str
    target_kind: str  # door, zone or alarm
    target_id: str


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic Sekisho publishes or listens to."""

    prefix: str
    discovery_prefix: str = "homeassistant"

    @property
    def status(self) -> str:
        """Gateway availability, retained: ``online``, or ``offline`` (also the last will)."""
        return f"{self.prefix}/status"

    def door(self, door_id: str) -> str:
        """A door's live state, retained JSON."""
        return f"{self.prefix}/door/{door_id}/state"

    def zone(self, zone_id: str) -> str:
        """A zone's state (doors open, in alarm, in fault; lockdown), retained JSON."""
        return f"{self.prefix}/zone/{zone_id}/state"

    def reader(self, reader_id: str) -> str:
        """A reader's link and tamper state, retained JSON."""
        return f"{self.prefix}/reader/{reader_id}/state"

    def sensor(self, sensor_id: str) -> str:
        """An environment sensor's state and value, retained JSON."""
        return f"{self.prefix}/sensor/{sensor_id}/state"

    def event(self, kind: str) -> str:
        """Records as events (access decisions, door events, ...), QoS 1, not retained."""
        return f"{self.prefix}/event/{kind}"

    @property
    def alarm_event(self) -> str:
        """Every alarm transition, QoS 1, not retained."""
        return f"{self.prefix}/alarm/event"

    @property
    def alarms_active(self) -> str:
        """Summary of the open alarms (count, most urgent), retained JSON."""
        return f"{self.prefix}/alarm/active"

    def reply(self, user: str) -> str:
        """Outcome of a user's commands, QoS 1, not retained."""
        return f"{self.prefix}/reply/{user}"

    @property
    def commands(self) -> str:
        """The filter Sekisho subscribes to for commands."""
        return f"{self.prefix}/cmd/#"

    def command(self, user: str, target_kind: str, target_id: str) -> str:
        """Where ``user`` publishes a command about one target."""
        return f"{self.prefix}/cmd/{user}/{target_kind}/{target_id}"

    def parse_command(self, topic: str) -> CommandTopic | None:
        """The parts of a command topic, or None when it is not exactly one."""
        head = f"{self.prefix}/cmd/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 3 or not all(parts) or parts[1] not in TARGET_KINDS:
            return None
        return CommandTopic(parts[0], parts[1], parts[2])

    def command_user(self, topic: str) -> str | None:
        """The user level of anything under the command prefix (for refusal records)."""
        head = f"{self.prefix}/cmd/"
        if not topic.startswith(head):
            return None
        user = topic[len(head) :].split("/", 1)[0]
        return user or None

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/last-will topic: ``online`` means re-announce."""
        return f"{self.discovery_prefix}/status"

    def discovery(self, component: str, object_id: str) -> str:
        """A Home Assistant discovery config topic."""
        return f"{self.discovery_prefix}/{component}/{object_id}/config"
