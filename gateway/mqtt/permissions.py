"""Which role may send which command over MQTT: the same rights as the API (4-8-2, 4-8-6(6)).

The core must not import ``api``; this table mirrors ``api.roles.PERMISSIONS`` for the API
permission named beside each command, and a test compares the two so they cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    """A command Sekisho accepts over MQTT."""

    DOOR_UNLOCK = "door.unlock"  # release a door's strike for its strike time (desk unlock)
    ZONE_LOCKDOWN = "zone.lockdown"  # lock a zone's doors down (4-8-11(2) containment)
    ZONE_RELEASE = "zone.release"  # end a zone's lockdown
    ALARM_ACKNOWLEDGE = "alarm.acknowledge"  # take an alarm on, with a note


ROLES: tuple[str, ...] = ("chief", "manager", "operator", "auditor", "admin")

_DESK = frozenset({"chief", "manager", "operator"})

COMMAND_ROLES: dict[Command, frozenset[str]] = {
    Command.DOOR_UNLOCK: _DESK,
    Command.ZONE_LOCKDOWN: _DESK,
    Command.ZONE_RELEASE: _DESK,
    Command.ALARM_ACKNOWLEDGE: _DESK,
}

# The API permission each command corresponds to (``api.roles.Permission`` values).
API_PERMISSION: dict[Command, str] = {
    Command.DOOR_UNLOCK: "doors:unlock",
    Command.ZONE_LOCKDOWN: "zones:lockdown",
    Command.ZONE_RELEASE: "zones:lockdown",
    Command.ALARM_ACKNOWLEDGE: "alarms:ack",
}


def may(role: str, command: Command) -> bool:
    """True when ``role`` may send ``command``; unknown roles may send nothing."""
    return role in COMMAND_ROLES.get(command, frozenset())
