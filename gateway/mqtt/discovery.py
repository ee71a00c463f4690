"""Home Assistant MQTT discovery: the site appears in Home Assistant with no YAML.

One Home Assistant device per site; doors as ``lock`` (state from the door topic, unlock by a
timestamped command) and door contacts, reader tamper and connectivity, smoke, moisture and the
other environment inputs as ``binary_sensor``, temperature and humidity as ``sensor``. Every
entity's availability is the gateway's status topic, whose last will is ``offline``.
Keys follow Home Assistant's MQTT lock / binary_sensor / sensor documentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from gateway.config.site import SiteConfig
from gateway.environment.model import SensorKind
from gateway.mqtt.topics import Topics

# Home Assistant binary_sensor device classes for the binary environment kinds.
_BINARY_CLASS: dict[SensorKind, str] = {
    SensorKind.SMOKE: "smoke",
    SensorKind.WATER_LEAK: "moisture",
    SensorKind.INTRUSION: "motion",
    SensorKind.ENCLOSURE_TAMPER: "tamper",
    SensorKind.UPS_ON_BATTERY: "problem",
    SensorKind.UPS_LOW_BATTERY: "battery",
}
_FAULT_STATES = "['open', 'short', 'fault']"

# The door topic's JSON as a lock state: a door whose module is lost cannot be driven (jammed).
LOCK_STATE = (
    "{% if value_json.state == 'fault' %}JAMMED"
    "{% elif value_json.strike_released %}UNLOCKED{% else %}LOCKED{% endif %}"
)
# The command Home Assistant publishes: the button's payload and the time, so that a stale or
# replayed command is refused (``now()`` is Home Assistant's template clock).
LOCK_COMMAND = '{"action": "{{ value }}", "ts": "{{ now().isoformat() }}"}'
CONTACT_STATE = (
    "{% if value_json.contact_open is none %}None"
    "{% elif value_json.contact_open %}ON{% else %}OFF{% endif %}"
)
BINARY_SENSOR_STATE = (
    "{% if value_json.state == 'alarm' %}ON"
    "{% elif value_json.state == 'normal' %}OFF{% else %}None{% endif %}"
)
SENSOR_FAULT_STATE = (
    f"{{% if value_json.state in {_FAULT_STATES} %}}ON"
    "{% elif value_json.state == 'unavailable' %}None{% else %}OFF{% endif %}"
)
ANALOG_STATE = "{{ value_json.value if value_json.value is not none else 'None' }}"


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """An environment sensor as discovery needs it (from ``sensors:`` or ``mqtt.sensors:``)."""

    sensor_id: str
    name: str
    kind: SensorKind
    zone_id: str | None
    unit: str


@dataclass(frozen=True, slots=True)
class Announcement:
    """One discovery config: its topic and its JSON (retained)."""

    topic: str
    config: dict[str, object]


def software_version() -> str:
    """Sekisho's installed version, for the device and origin blocks."""
    try:
        return metadata.version("sekisho")
    except metadata.PackageNotFoundError:
        return "unknown"


def site_sensors(site: SiteConfig) -> list[SensorInfo]:
    """Every environment sensor of the site, module-wired and MQTT alike, in file order."""
    out = [SensorInfo(s.id, s.name or s.id, s.kind, s.zone, s.shown_unit) for s in site.sensors]
    if site.mqtt is not None:
        out += [
            SensorInfo(s.id, s.name or s.id, s.kind, s.zone, s.shown_unit)
            for s in site.mqtt.sensors
        ]
    return out


def announcements(
    site: SiteConfig, topics: Topics, command_user: str, version: str | None = None
) -> list[Announcement]:
    """Every discovery config for the site."""
    sw = version if version is not None else software_version()
    site_id = site.site.id
    base: dict[str, object] = {
        "availability_topic": topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [f"sekisho_{site_id}"],
            "name": site.site.name,
            "manufacturer": "Sekisho",
            "model": "Access-control gateway",
            "sw_version": sw,
        },
        "origin": {"name": "Sekisho", "sw_version": sw},
        "qos": 1,
    }
    out: list[Announcement] = []

    def add(component: str, key: str, config: dict[str, object]) -> None:
        """Append one entity's config."""
        uid = f"sekisho_{site_id}_{key}"
        out.append(
            Announcement(topics.discovery(component, uid), {**base, "unique_id": uid, **config})
        )

    for d in site.doors:
        add(
            "lock",
            f"door_{d.id}_lock",
            {
                "name": d.name,
                "state_topic": topics.door(d.id),
                "value_template": LOCK_STATE,
                "command_topic": topics.command(command_user, "door", d.id),
                "command_template": LOCK_COMMAND,
                "payload_lock": "LOCK",
                "payload_unlock": "UNLOCK",
                "state_locked": "LOCKED",
                "state_unlocked": "UNLOCKED",
                "state_jammed": "JAMMED",
                "optimistic": False,
                "retain": False,
            },
        )
        add(
            "binary_sensor",
            f"door_{d.id}_contact",
            {
                "name": f"{d.name} contact",
                "device_class": "door",
                "state_topic": topics.door(d.id),
                "value_template": CONTACT_STATE,
                "payload_on": "ON",
                "payload_off": "OFF",
            },
        )
    for r in site.readers:
        add(
            "binary_sensor",
            f"reader_{r.id}_tamper",
            {
                "name": f"Reader {r.id} tamper",
                "device_class": "tamper",
                "state_topic": topics.reader(r.id),
                "value_template": "{{ 'ON' if value_json.tamper else 'OFF' }}",
                "payload_on": "ON",
                "payload_off": "OFF",
            },
        )
        add(
            "binary_sensor",
            f"reader_{r.id}_link",
            {
                "name": f"Reader {r.id} link",
                "device_class": "connectivity",
                "entity_category": "diagnostic",
                "state_topic": topics.reader(r.id),
                "value_template": "{{ 'ON' if value_json.online else 'OFF' }}",
                "payload_on": "ON",
                "payload_off": "OFF",
            },
        )
    for s in site_sensors(site):
        if s.kind.analog:
            add(
                "sensor",
                f"sensor_{s.sensor_id}",
                {
                    "name": s.name,
                    "device_class": s.kind.value,  # temperature, humidity
                    "state_class": "measurement",
                    "unit_of_measurement": s.unit,
                    "state_topic": topics.sensor(s.sensor_id),
                    "value_template": ANALOG_STATE,
                },
            )
        else:
            add(
                "binary_sensor",
                f"sensor_{s.sensor_id}",
                {
                    "name": s.name,
                    "device_class": _BINARY_CLASS[s.kind],
                    "state_topic": topics.sensor(s.sensor_id),
                    "value_template": BINARY_SENSOR_STATE,
                    "payload_on": "ON",
                    "payload_off": "OFF",
                },
            )
        add(
            "binary_sensor",
            f"sensor_{s.sensor_id}_fault",
            {
                "name": f"{s.name} fault",
                "device_class": "problem",
                "entity_category": "diagnostic",
                "state_topic": topics.sensor(s.sensor_id),
                "value_template": SENSOR_FAULT_STATE,
                "payload_on": "ON",
                "payload_off": "OFF",
            },
        )
    add(
        "sensor",
        "alarms_active",
        {
            "name": "Active alarms",
            "icon": "mdi:alarm-light",
            "state_topic": topics.alarms_active,
            "value_template": "{{ value_json.count }}",
            "json_attributes_topic": topics.alarms_active,
            "state_class": "measurement",
        },
    )
    return out
