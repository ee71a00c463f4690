"""Pydantic schema of the site file; unknown keys are refused everywhere."""

from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.alarms.config import AlarmsConfig
from gateway.audit.config import AuditConfig
from gateway.cameras.config import CameraConfig, CameraEvidenceStore, check_cameras
from gateway.domain import AuthMode, DoorMode
from gateway.environment.config import SensorConfig, check_sensor_wiring
from gateway.incidents.config import IncidentsConfig
from gateway.media.config import CustodyConfig, ZoneMediaPolicy, check_scan_readers
from gateway.mqtt.config import MqttConfig, check_mqtt

ALWAYS_ID = "always"
Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Strict(BaseModel):
    """Base for every section: unknown keys are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneKind(StrEnum):
    """What a zone is, in the guideline's terms."""

    SERVER_ROOM = "server_room"  # 情報システム室等
    MEDIA_VAULT = "media_vault"  # 保管施設
    OTHER = "other"  # corridors, lobbies and other areas on the way in


class SiteInfo(Strict):
    """Identity of the site; ``id`` goes on every record."""

    id: Ident
    name: str
    timezone: str = "Asia/Tokyo"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {tz!r} (use an IANA name such as Asia/Tokyo)"
            ) from None
        return tz


class StorageConfig(Strict):
    """Where records and master data live."""

    url: str | None = None  # SQLAlchemy URL; PostgreSQL for multi-site (postgresql+psycopg://...)
    path: str = "sekisho.db"  # SQLite file when no url, relative to the site file's folder


class OsdpBusConfig(Strict):
    """One RS-485 line with OSDP readers on it."""

    id: Ident
    port: str  # serial device path, e.g. /dev/ttyUSB0 (or a pty link in the demo)
    baud: int = 115200
    refresh_ms: float = Field(default=1.0, gt=0, le=50)  # how often libosdp is serviced


class ReaderKind(StrEnum):
    """How a reader is connected."""

    OSDP = "osdp"  # OSDP v2.2 on an RS-485 bus, Secure Channel required
    RDM6300 = "rdm6300"  # 125 kHz serial reader, no keypad, no feedback


class IOPoint(Strict):
    """One input or output on an I/O module."""

    module: Ident
    point: int = Field(ge=0)


class ReaderConfig(Strict):
    """A badge reader."""

    id: Ident
    kind: ReaderKind
    bus: Ident | None = None  # OSDP: the bus it sits on
    address: int | None = Field(default=None, ge=0, le=126)  # OSDP: its address on the bus
    scbk_file: str | None = None  # OSDP: file holding the 16-byte Secure Channel key, hex
    port: str | None = None  # RDM6300: serial device path
    tamper_input: IOPoint | None = None  # module input wired to the reader's tamper switch

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Self:
        if self.kind is ReaderKind.OSDP:
            missing = [n for n in ("bus", "address", "scbk_file") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"an osdp reader needs {', '.join(missing)}")
        elif self.port is None:
            raise ValueError("an rdm6300 reader needs port")
        return self


class ModuleConfig(Strict):
    """A Modbus TCP digital I/O module."""

    id: Ident
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    device_id: int = Field(default=1, ge=0, le=247)
    poll_ms: float = Field(default=50.0, ge=5, le=5000)
    timeout_s: float = Field(default=1.0, gt=0, le=30)


class AntiPassback(StrEnum):
    """Anti-passback at a zone's entrances."""

    OFF = "off"  # no check
    SOFT = "soft"  # grant, but record a violation
    HARD = "hard"  # deny entry to someone already inside (exit is never refused)
    TIMED = "timed"  # deny re-entry within passback_timeout_s of the last entry


class RexAttribution(StrEnum):
    """Who is taken to have left when a door opens by request-to-exit."""

    UNKNOWN = "unknown"  # nobody: the exit is recorded as unattributed
    LAST_IN = "last_in"  # the person who entered the zone last


class EscortPolicy(Strict):
    """The escort rule for outsiders (4-8-7(1) 部外者の識別化, 同行)."""

    required: bool = True  # visitors open this zone's doors only with an escort's badge
    contractors: bool = True  # contractors count as outsiders here
    window_s: float = Field(default=15.0, gt=0, le=300)  # escort and outsider badge this close
    monitored_by_camera: bool = False  # or watched by surveillance: no escort while a camera sees


class ZoneConfig(Strict):
    """A guarded area: a server room, a media vault, or an area on the way."""

    id: Ident
    name: str
    kind: ZoneKind = ZoneKind.SERVER_ROOM
    anti_passback: AntiPassback = AntiPassback.OFF
    passback_timeout_s: float = Field(default=300.0, gt=0)  # for anti_passback: timed
    two_person: bool = False  # the door opens only when two authorized people badge
    two_person_window_s: float = Field(default=10.0, gt=0, le=300)
    lone_occupant_alarm_s: float | None = Field(default=None, gt=0)  # alarm: one person alone
    escort: EscortPolicy = EscortPolicy()
    require_purpose: bool = False  # 用件の確認: a standing purpose or an approved work order
    require_training: str | None = None  # a course whose record must be current (4-8-3)
    recertify_days: int | None = Field(default=None, ge=1, le=3650)  # authorizations lapse
    rex_attribution: RexAttribution = RexAttribution.UNKNOWN
    media: ZoneMediaPolicy = ZoneMediaPolicy()  # issue 5: carry-in/out, inventories (4-8-5)


class InterlockConfig(Strict):
    """Doors of a mantrap: one may open only while every other is closed and locked."""

    id: Ident
    doors: list[Ident] = Field(min_length=2)


class DoorConfig(Strict):
    """A door: its readers, its I/O points and its timings."""

    id: Ident
    name: str
    zone: Ident  # the zone this door leads into (its entrance, 4-8-7(2))
    entry_reader: Ident | None = None  # reader outside: badge in
    exit_reader: Ident | None = None  # reader inside: badge out
    module: Ident
    strike_output: int = Field(ge=0)  # coil that releases the lock
    contact_input: int = Field(ge=0)  # door position switch, active = open
    rex_input: int | None = Field(default=None, ge=0)  # request-to-exit button, active = pressed
    auth: AuthMode = AuthMode.CARD  # applies to entry; see pin_on_exit
    pin_on_exit: bool = False  # card_and_pin doors: also ask for the PIN when leaving
    mode: DoorMode = DoorMode.ACCESS  # the door mode at start-up
    unlock_schedule: Ident | None = None  # free passage (unlocked) during this schedule
    first_person_in: bool = False  # ...but only once a supervisor has entered in that span
    strike_time_s: float = Field(default=5.0, gt=0, le=120)  # how long the lock stays released
    held_open_s: float = Field(
        default=30.0, gt=0, le=3600
    )  # open longer than this: held-open alarm
    prealarm_s: float = Field(
        default=10.0, ge=0, le=3600
    )  # warning this long before held-open alarm
    rex_strike: bool = True  # REX also releases the strike (electric egress)
    fail_secure: bool = (
        True  # lock stays locked without power; the strike coil is energised to open
    )

    @model_validator(mode="after")
    def _timings(self) -> Self:
        if self.prealarm_s >= self.held_open_s:
            raise ValueError("prealarm_s must be shorter than held_open_s")
        if self.entry_reader is None and self.exit_reader is None:
            raise ValueError("a door needs an entry_reader or an exit_reader")
        return self


class Schedule(Strict):
    """A weekly schedule: for each weekday, the spans of local time it admits."""

    id: Ident
    name: str = ""
    week: dict[Weekday, list[str]] = Field(default_factory=dict)
    holidays: Literal["closed", "open", "as_weekday"] = "closed"  # what a site holiday means

    @field_validator("week")
    @classmethod
    def _spans(cls, week: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, spans in week.items():
            for span in spans:
                m = _SPAN.match(span)
                if m is None:
                    raise ValueError(f"{day}: {span!r} is not HH:MM-HH:MM")
                h1, m1, h2, m2 = (int(g) for g in m.groups())
                if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
                    raise ValueError(f"{day}: {span!r} is not a time of day")
                if (h1, m1) >= (h2, m2):
                    raise ValueError(f"{day}: {span!r} ends before it starts")
        return week

    def spans(self, day: Weekday) -> list[tuple[time, time | None]]:
        """Spans for a weekday as (start, end); end None means midnight."""
        out: list[tuple[time, time | None]] = []
        for span in self.week.get(day, []):
            m = _SPAN.match(span)
            assert m is not None  # validated above
            h1, m1, h2, m2 = (int(g) for g in m.groups())
            out.append((time(h1, m1), None if h2 == 24 else time(h2, m2)))
        return out


class PinPolicy(Strict):
    """PIN rules (4-8-7(3))."""

    min_length: int = Field(default=4, ge=4, le=12)
    max_length: int = Field(default=8, ge=4, le=12)
    max_failures: int = Field(default=3, ge=1, le=20)  # wrong PINs in a row before lock-out
    lockout_s: float = Field(default=300.0, gt=0)  # how long a locked-out credential stays locked
    entry_timeout_s: float = Field(default=10.0, gt=0, le=60)  # time to type the PIN after the card


class SiteConfig(Strict):
    """The whole site file."""

    site: SiteInfo
    storage: StorageConfig = StorageConfig()
    osdp_buses: list[OsdpBusConfig] = Field(default_factory=list)
    readers: list[ReaderConfig] = Field(default_factory=list)
    modules: list[ModuleConfig] = Field(default_factory=list)
    zones: list[ZoneConfig]
    doors: list[DoorConfig]
    schedules: list[Schedule] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    interlocks: list[InterlockConfig] = Field(default_factory=list)
    pin: PinPolicy = PinPolicy()
    sensors: list[SensorConfig] = Field(default_factory=list)  # environment, 4-8-7(5)
    alarms: AlarmsConfig = AlarmsConfig()  # per-type priority, escalation, instructions
    incidents: IncidentsConfig = IncidentsConfig()  # 4-8-11: notification, legal periods
    audit: AuditConfig = AuditConfig()  # 4-8-6(3)-(5): checkpoints, retention, analysis
    mqtt: MqttConfig | None = None  # the MQTT bus and Home Assistant; none: MQTT off
    cameras: list[CameraConfig] = Field(default_factory=list)  # issue 7: 4-8-7(1)(4)
    camera_evidence: CameraEvidenceStore = CameraEvidenceStore()  # 4-8-6(10): at rest, encrypted
    custody: CustodyConfig = CustodyConfig()  # issue 5: visitors, media, contractors

    @model_validator(mode="after")
    def _references(self) -> Self:
        # Messages begin with the path they are about, so the loader can name the line.
        for section in (
            "osdp_buses",
            "readers",
            "modules",
            "zones",
            "doors",
            "schedules",
            "interlocks",
        ):
            _unique(section, [item.id for item in getattr(self, section)])
        self._check_readers()
        self._check_doors()
        self._check_points()
        self._check_interlocks()
        check_scan_readers(((z.id, z.media) for z in self.zones), {r.id for r in self.readers})
        if self.pin.min_length > self.pin.max_length:
            raise ValueError("pin.min_length: longer than pin.max_length")
        self.audit.check_references({s.id for s in self.schedules})
        check_cameras(
            self.cameras,
            doors={d.id: d.zone for d in self.doors},
            zones=(z.id for z in self.zones),
            monitored_zones=[
                (i, z.id) for i, z in enumerate(self.zones) if z.escort.monitored_by_camera
            ],
        )
        if self.mqtt is not None:
            check_mqtt(
                self.mqtt,
                site_id=self.site.id,
                zones=(z.id for z in self.zones),
                sensor_ids=(s.id for s in self.sensors),
            )
        return self

    def _check_readers(self) -> None:
        buses = {b.id for b in self.osdp_buses}
        modules = {m.id for m in self.modules}
        seen: dict[tuple[str, int | None], str] = {}
        for i, r in enumerate(self.readers):
            if r.bus is not None:
                if r.bus not in buses:
                    raise ValueError(f"readers[{i}].bus: unknown osdp bus {r.bus!r}")
                if (r.bus, r.address) in seen:
                    other = seen[(r.bus, r.address)]
                    raise ValueError(f"readers[{i}].address: {other} has it on {r.bus} already")
                seen[(r.bus, r.address)] = r.id
            if r.tamper_input is not None and r.tamper_input.module not in modules:
                raise ValueError(
                    f"readers[{i}].tamper_input.module: unknown module {r.tamper_input.module!r}"
                )

    def _check_doors(self) -> None:
        readers = {r.id: r for r in self.readers}
        modules = {m.id for m in self.modules}
        zones = {z.id for z in self.zones}
        used: dict[str, str] = {}
        for i, d in enumerate(self.doors):
            if d.zone not in zones:
                raise ValueError(f"doors[{i}].zone: unknown zone {d.zone!r}")
            if d.module not in modules:
                raise ValueError(f"doors[{i}].module: unknown module {d.module!r}")
            for field in ("entry_reader", "exit_reader"):
                rid = getattr(d, field)
                if rid is None:
                    continue
                if rid not in readers:
                    raise ValueError(f"doors[{i}].{field}: unknown reader {rid!r}")
                if rid in used:
                    raise ValueError(f"doors[{i}].{field}: {rid} already serves door {used[rid]}")
                used[rid] = d.id
                needs_pin = d.auth is AuthMode.CARD_AND_PIN and (
                    field == "entry_reader" or d.pin_on_exit
                )
                if needs_pin and readers[rid].kind is ReaderKind.RDM6300:
                    raise ValueError(
                        f"doors[{i}].auth: card_and_pin needs a keypad; {rid} has none"
                    )

    def _check_interlocks(self) -> None:
        doors = {d.id for d in self.doors}
        schedules = {s.id for s in self.schedules} | {ALWAYS_ID}
        seen: dict[str, str] = {}
        for i, group in enumerate(self.interlocks):
            for door in group.doors:
                if door not in doors:
                    raise ValueError(f"interlocks[{i}].doors: unknown door {door!r}")
                if door in seen:
                    raise ValueError(f"interlocks[{i}].doors: {door} is already in {seen[door]}")
                seen[door] = group.id
        for i, d in enumerate(self.doors):
            if d.unlock_schedule is not None and d.unlock_schedule not in schedules:
                raise ValueError(
                    f"doors[{i}].unlock_schedule: unknown schedule {d.unlock_schedule!r}"
                )
            if d.first_person_in and d.unlock_schedule is None:
                raise ValueError(f"doors[{i}].first_person_in: needs an unlock_schedule")

    def _check_points(self) -> None:
        inputs: dict[tuple[str, int], str] = {}
        outputs: dict[tuple[str, int], str] = {}

        def claim(table: dict[tuple[str, int], str], key: tuple[str, int], path: str) -> None:
            if key in table:
                raise ValueError(f"{path}: {key[0]} point {key[1]} is already {table[key]}")
            table[key] = path

        for i, d in enumerate(self.doors):
            claim(inputs, (d.module, d.contact_input), f"doors[{i}].contact_input")
            if d.rex_input is not None:
                claim(inputs, (d.module, d.rex_input), f"doors[{i}].rex_input")
            claim(outputs, (d.module, d.strike_output), f"doors[{i}].strike_output")
        for i, r in enumerate(self.readers):
            if r.tamper_input is not None:
                key = (r.tamper_input.module, r.tamper_input.point)
                claim(inputs, key, f"readers[{i}].tamper_input")
        check_sensor_wiring(
            self.sensors,
            modules=(m.id for m in self.modules),
            zones=(z.id for z in self.zones),
            used_inputs=inputs,
        )

    def zone(self, zone_id: str) -> ZoneConfig:
        """The zone with this id; KeyError when there is none."""
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(zone_id)

    def schedule(self, schedule_id: str) -> Schedule:
        """The schedule with this id; the built-in ``always`` exists on every site."""
        for s in self.schedules:
            if s.id == schedule_id:
                return s
        if schedule_id == ALWAYS_ID:
            return ALWAYS
        raise KeyError(schedule_id)


ALWAYS = Schedule(
    id=ALWAYS_ID,
    name="Always (24/7, holidays included)",
    week={d: ["00:00-24:00"] for d in WEEKDAYS},
    holidays="as_weekday",
)


def _unique(section: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for n, i in enumerate(ids):
        if i in seen:
            raise ValueError(f"{section}[{n}].id: {i!r} appears twice")
        seen.add(i)
