"""Commands in over MQTT: who sent it, is it fresh, may they, and then do it.

The sender is the user level of ``<prefix>/cmd/<user>/<kind>/<id>``: the broker authenticates
and its ACL lets user U publish only under ``<prefix>/cmd/U/#`` (docs/mqtt.md). The site file
maps users to roles and :mod:`gateway.mqtt.permissions` says what each role may do, as in the
API. Commands are never replayed: a retained command is refused, every command carries a
timestamp (``ts``) or an MQTT v5 message expiry no longer than ``max_age_s``, stale ones and
repeats of one already taken are refused, and commands are never stored (no outbox, no session).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from gateway.alarms.model import AlarmError, UnknownAlarm
from gateway.core_api import DoorUnavailable, UnknownDoor
from gateway.mqtt.config import MqttCommands
from gateway.mqtt.link import Incoming
from gateway.mqtt.permissions import Command, may
from gateway.mqtt.topics import CommandTopic, Topics
from gateway.ports import DeviceFault

MAX_COMMAND_BYTES = 2048
_SEEN_MAX = 10_000  # remembered command ids (for refusing repeats), oldest forgotten first

# (target kind, action) -> command; HA's lock sends UNLOCK/LOCK, people may write lower case.
_ACTIONS: dict[tuple[str, str], Command] = {
    ("door", "unlock"): Command.DOOR_UNLOCK,
    ("zone", "lockdown"): Command.ZONE_LOCKDOWN,
    ("zone", "release"): Command.ZONE_RELEASE,
    ("alarm", "acknowledge"): Command.ALARM_ACKNOWLEDGE,
    ("alarm", "ack"): Command.ALARM_ACKNOWLEDGE,
}


class Refusal(StrEnum):
    """Why a command was refused (the record's ``reason``)."""

    RETAINED = "retained"  # a retained message is state, never a command
    MALFORMED_TOPIC = "malformed_topic"  # not <prefix>/cmd/<user>/<door|zone|alarm>/<id>
    UNKNOWN_USER = "unknown_user"  # the MQTT user is not mapped to a role
    TOO_LARGE = "too_large"
    MALFORMED = "malformed"  # not a JSON object of the documented shape
    UNSUPPORTED = "unsupported"  # no such action for this target (e.g. LOCK: doors relock)
    NOT_FRESH = "no_timestamp"  # neither ts nor a message expiry: could be replayed
    EXPIRY_TOO_LONG = "expiry_too_long"  # message expiry longer than max_age_s
    STALE = "stale"  # ts older than max_age_s
    FROM_FUTURE = "from_future"  # ts ahead of our clock by more than the allowed skew
    DUPLICATE = "duplicate"  # this command (id, or ts) was already taken
    FORBIDDEN = "forbidden"  # the user's role may not do this
    UNKNOWN_TARGET = "unknown_target"  # no such door, zone or alarm
    UNAVAILABLE = "unavailable"  # the target cannot do it now (door in fault) or no service
    FAILED = "failed"  # the core refused it (e.g. alarm already closed)


class CommandRefused(Exception):
    """A command that is not carried out; ``reason`` is recorded and replied."""

    def __init__(self, reason: Refusal, detail: str = "") -> None:
        """A refusal for ``reason``; ``detail`` says more (never the payload)."""
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class _Body(BaseModel):
    """The JSON of a command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = Field(min_length=1, max_length=32)
    ts: AwareDatetime | None = None  # when it was issued (ISO 8601 with offset)
    id: str | None = Field(default=None, min_length=1, max_length=64)  # for replies and repeats
    note: str | None = Field(default=None, max_length=500)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A command that passed every check but the target's own."""

    user: str
    role: str
    command: Command
    target: str
    note: str | None
    request_id: str | None

    @property
    def actor(self) -> str:
        """Who did it, as records name it (MQTT users are told apart from API accounts)."""
        return f"mqtt:{self.user}"[:64]


class CommandGate:
    """Checks a command message against topic, user, freshness, repeats and permissions."""

    def __init__(self, cfg: MqttCommands, topics: Topics) -> None:
        """Check against ``cfg`` (users, freshness) under ``topics``; no command taken yet."""
        self._cfg = cfg
        self._topics = topics
        self._seen: OrderedDict[tuple[str, str, str], datetime] = OrderedDict()

    def admit(self, msg: Incoming, now: datetime) -> CommandRequest:
        """The request ``msg`` carries, or CommandRefused."""
        if msg.retain:
            raise CommandRefused(Refusal.RETAINED)
        where = self._topics.parse_command(msg.topic)
        if where is None:
            raise CommandRefused(Refusal.MALFORMED_TOPIC)
        role = self._cfg.users.get(where.user)
        if role is None:
            raise CommandRefused(Refusal.UNKNOWN_USER, where.user)
        body = self._body(msg)
        command = _ACTIONS.get((where.target_kind, body.action.lower()))
        if command is None:
            raise CommandRefused(
                Refusal.UNSUPPORTED, f"{where.target_kind} has no action {body.action!r}"
            )
        self._fresh(msg, body, now)
        if not may(role, command):
            raise CommandRefused(Refusal.FORBIDDEN, f"role {role} may not {command.value}")
        self._not_seen(where, msg, body, now)
        return CommandRequest(where.user, role, command, where.target_id, body.note, body.id)

    def _body(self, msg: Incoming) -> _Body:
        """Parse the JSON body (size first), or refuse it as malformed."""
        if len(msg.payload) > MAX_COMMAND_BYTES:
            raise CommandRefused(Refusal.TOO_LARGE, f"{len(msg.payload)} bytes")
        try:
            return _Body.model_validate_json(msg.payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise CommandRefused(Refusal.MALFORMED, f"{where}: {first['msg']}") from None

    def _fresh(self, msg: Incoming, body: _Body, now: datetime) -> None:
        """A timestamp within max_age (and not from the future), or a short message expiry."""
        max_age = self._cfg.max_age_s
        if body.ts is None and msg.expiry_s is None:
            raise CommandRefused(Refusal.NOT_FRESH, "give ts or an MQTT message expiry")
        if msg.expiry_s is not None and msg.expiry_s > max_age:
            raise CommandRefused(
                Refusal.EXPIRY_TOO_LONG, f"expiry {msg.expiry_s} s > {max_age:g} s"
            )
        if body.ts is not None:
            age = (now - body.ts).total_seconds()
            if age > max_age:
                raise CommandRefused(Refusal.STALE, f"issued {age:.0f} s ago (max {max_age:g})")
            if age < -self._cfg.clock_skew_s:
                raise CommandRefused(Refusal.FROM_FUTURE, f"issued {-age:.1f} s ahead of us")

    def _not_seen(self, where: CommandTopic, msg: Incoming, body: _Body, now: datetime) -> None:
        """Refuse a command already taken (same user, topic and id or ts)."""
        token = body.id or (body.ts.isoformat() if body.ts is not None else None)
        if token is None:
            return  # expiry only: the broker drops it when stale, no session can replay it
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        key = (where.user, msg.topic, token)
        if key in self._seen:
            raise CommandRefused(Refusal.DUPLICATE, f"already taken ({token})")
        horizon = self._cfg.max_age_s + self._cfg.clock_skew_s
        self._seen[key] = now + timedelta(seconds=horizon)
        while len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)


class DoorCommands(Protocol):
    """What unlocking a door needs of the core (``gateway.runtime.Gateway``)."""

    async def momentary_unlock(self, door_id: str, actor: str, note: str | None) -> int:
        """Release a door for its strike time; returns the record's seq."""


class ZoneCommands(Protocol):
    """Zone lockdown from the desk (issue 3)."""

    async def lockdown(self, zone_id: str, actor: str, reason: str | None) -> object:
        """Lock a zone's doors down."""

    async def release_lockdown(self, zone_id: str, actor: str, reason: str | None) -> object:
        """End a zone's lockdown."""


class AlarmCommands(Protocol):
    """Alarm acknowledgement (``gateway.alarms.service.AlarmService``)."""

    async def acknowledge(self, alarm_id: str, actor: str, note: str | None) -> object:
        """Take an alarm on."""


class CommandRunner:
    """Carries out admitted commands on the core; failures become CommandRefused."""

    def __init__(
        self,
        doors: DoorCommands,
        zone_ids: frozenset[str],
        zones: ZoneCommands | None,
        alarms: AlarmCommands | None,
    ) -> None:
        """``zones`` and ``alarms`` are None where the site runs without them."""
        self._doors = doors
        self._zone_ids = zone_ids
        self._zones = zones
        self._alarms = alarms

    async def run(self, req: CommandRequest) -> int | None:
        """Do it; returns the record seq when the core gives one."""
        if req.command is Command.DOOR_UNLOCK:
            return await self._unlock(req)
        if req.command in (Command.ZONE_LOCKDOWN, Command.ZONE_RELEASE):
            return await self._zone(req)
        await self._acknowledge(req)
        return None

    async def _unlock(self, req: CommandRequest) -> int:
        """Momentary unlock of a door."""
        note = req.note or "via MQTT"
        try:
            return await self._doors.momentary_unlock(req.target, req.actor, note)
        except UnknownDoor:
            raise CommandRefused(Refusal.UNKNOWN_TARGET, f"door {req.target}") from None
        except (DoorUnavailable, DeviceFault) as exc:
            raise CommandRefused(Refusal.UNAVAILABLE, str(exc)[:200]) from None

    async def _zone(self, req: CommandRequest) -> int | None:
        """Lock a zone down or release it."""
        if req.target not in self._zone_ids:
            raise CommandRefused(Refusal.UNKNOWN_TARGET, f"zone {req.target}")
        if self._zones is None:
            raise CommandRefused(Refusal.UNAVAILABLE, "zone lockdown is not available")
        reason = req.note or "via MQTT"
        try:
            if req.command is Command.ZONE_LOCKDOWN:
                result = await self._zones.lockdown(req.target, req.actor, reason)
            else:
                result = await self._zones.release_lockdown(req.target, req.actor, reason)
        except (LookupError, ValueError, RuntimeError, DeviceFault) as exc:
            raise CommandRefused(Refusal.FAILED, str(exc)[:200]) from None
        return result if isinstance(result, int) and not isinstance(result, bool) else None

    async def _acknowledge(self, req: CommandRequest) -> None:
        """Acknowledge an alarm."""
        if self._alarms is None:
            raise CommandRefused(Refusal.UNAVAILABLE, "alarms are not available")
        try:
            await self._alarms.acknowledge(req.target, req.actor, req.note)
        except UnknownAlarm:
            raise CommandRefused(Refusal.UNKNOWN_TARGET, f"alarm {req.target}") from None
        except AlarmError as exc:  # AlarmRefused: e.g. it is closed already
            raise CommandRefused(Refusal.FAILED, str(exc)[:200]) from None
