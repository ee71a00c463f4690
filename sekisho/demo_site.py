"""The demo site: a server room with entry and exit readers and a media vault, on simulated devices.

Everything here is sample data for `sekisho demo`; nothing of it is used by a real site.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SITE_ID = "demo-hq"


@dataclass(frozen=True, slots=True)
class DemoCard:
    """A sample credential and what it is meant to show."""

    label: str
    card: str
    pin: str | None
    shows: str


@dataclass(frozen=True, slots=True)
class DemoPerson:
    """A sample person with cards and zones."""

    name: str
    kind: str
    organisation: str | None
    cards: tuple[DemoCard, ...]
    zones: tuple[tuple[str, str], ...]  # (zone, schedule)
    status: str = "enabled"


PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(
        "Sato Hanako",
        "staff",
        "Information Systems Division",
        (
            DemoCard(
                "Sato Hanako", "H10301:12:1001", "2468", "staff: server room (card+PIN) and vault"
            ),
            DemoCard(
                "Sato Hanako (EM tag)", "EM4100:10:305419896", None, "125 kHz tag for the vault"
            ),
        ),
        (("server-room", "always"), ("media-vault", "office")),
    ),
    DemoPerson(
        "Suzuki Ichiro",
        "staff",
        "Records Management",
        (DemoCard("Suzuki Ichiro", "C1000:1234:56789", "1357", "staff: vault only, office hours"),),
        (("media-vault", "office"),),
    ),
    DemoPerson(
        "Tanaka Kenji",
        "contractor",
        "Kanto Datacenter Services",
        (DemoCard("Tanaka Kenji", "H10304:4000:123456", "8642", "contractor: server room"),),
        (("server-room", "office"),),
    ),
    DemoPerson(
        "Ito Mai",
        "visitor",
        "Example Systems Integrator",
        (DemoCard("Ito Mai", "H10301:12:2003", "7531", "visitor: needs an escort's badge"),),
        (("server-room", "always"),),
    ),
    DemoPerson(
        "Yamada Taro",
        "visitor",
        "Example Audit LLC",
        (DemoCard("Yamada Taro", "H10301:12:2002", None, "visitor without access: Unauthorized"),),
        (),
    ),
    DemoPerson(
        "Kobayashi Yuki",
        "staff",
        "General Affairs",
        (DemoCard("Kobayashi Yuki", "H10301:12:3003", None, "card reported lost"),),
        (("server-room", "always"),),
        status="lost",
    ),
)

ACCOUNTS: tuple[tuple[str, str, str], ...] = (
    # username, role, display name
    ("chief", "chief", "Chief protection manager"),
    ("manager", "manager", "Protection manager (server room, vault)"),
    ("operator", "operator", "Security desk operator"),
    ("auditor", "auditor", "Audit officer"),
    ("admin", "admin", "Appliance administrator"),
)


# Environment sensors on io1 (4-8-7(5)): how the sim wires them, and how the gateway reads them.
SIM_SENSORS: dict[str, dict[str, Any]] = {
    "sr-smoke": {"type": "contact", "label": "smoke", "input": 6},
    "sr-water": {"type": "contact", "label": "water leak", "input": 7},
    "ups-on-battery": {"type": "contact", "label": "UPS on battery", "input": 8},
    "ups-low-battery": {"type": "contact", "label": "UPS low battery", "input": 9},
    "vault-pir": {"type": "contact", "label": "intrusion (PIR)", "input": 10},
    "rack-tamper": {"type": "contact", "label": "rack door tamper", "input": 11},
    "sr-temp": {"type": "analog", "label": "temperature", "input_register": 0, "scale": 0.1,
                "value": 22.5},
    "sr-humidity": {"type": "analog", "label": "humidity", "input_register": 1, "scale": 0.1,
                    "value": 45.0},
    "vault-smoke": {"type": "loop", "label": "smoke (supervised)", "input_register": 2},
}  # fmt: skip
SENSORS: tuple[dict[str, Any], ...] = (
    {"id": "sr-smoke", "name": "Server room smoke detector", "kind": "smoke",
     "zone": "server-room", "module": "io1", "input": 6},
    {"id": "sr-water", "name": "Server room leak detection", "kind": "water_leak",
     "zone": "server-room", "module": "io1", "input": 7},
    {"id": "ups-on-battery", "name": "UPS on battery", "kind": "ups_on_battery",
     "zone": "server-room", "module": "io1", "input": 8},
    {"id": "ups-low-battery", "name": "UPS low battery", "kind": "ups_low_battery",
     "zone": "server-room", "module": "io1", "input": 9},
    {"id": "vault-pir", "name": "Media vault motion detector", "kind": "intrusion",
     "zone": "media-vault", "module": "io1", "input": 10},
    {"id": "rack-tamper", "name": "Rack A door", "kind": "enclosure_tamper",
     "zone": "server-room", "module": "io1", "input": 11},
    {"id": "sr-temp", "name": "Server room temperature", "kind": "temperature",
     "zone": "server-room", "module": "io1", "input_register": 0, "scale": 0.1,
     "thresholds": {"high": 30.0, "low": 15.0, "hysteresis": 1.0},
     "valid_min": -20.0, "valid_max": 80.0},
    {"id": "sr-humidity", "name": "Server room humidity", "kind": "humidity",
     "zone": "server-room", "module": "io1", "input_register": 1, "scale": 0.1,
     "thresholds": {"high": 70.0, "low": 20.0, "hysteresis": 2.0},
     "valid_min": 0.0, "valid_max": 100.0},
    {"id": "vault-smoke", "name": "Media vault smoke detector (supervised loop)",
     "kind": "smoke", "zone": "media-vault", "module": "io1", "input_register": 2, "eol": {}},
)  # fmt: skip


# Issue 5: media at home in the vault, each with a 125 kHz tag the vault's reader can read during
# an inventory, and visitor badges from the site's visitor pool (H10301 facility 50).
MEDIA_ITEMS: tuple[dict[str, Any], ...] = (
    {"kind": "tape", "tag": "LTO-0001", "rfid": "EM4100:10:601", "classification": "confidential",
     "encrypted": True, "home_location": "shelf A-1", "description": "Backup tape, week 1"},
    {"kind": "tape", "tag": "LTO-0002", "rfid": "EM4100:10:602", "classification": "confidential",
     "encrypted": True, "home_location": "shelf A-2", "description": "Backup tape, week 2"},
    {"kind": "hdd", "tag": "HDD-0042", "rfid": "EM4100:10:642", "classification": "secret",
     "encrypted": True, "home_location": "safe 1", "description": "Archive disk"},
    {"kind": "usb_memory", "tag": "USB-0007", "rfid": "EM4100:10:607", "classification": "internal",
     "encrypted": False, "home_location": "safe 1, drawer 2", "description": "Unencrypted stick"},
)  # fmt: skip
VISITOR_BADGES: tuple[tuple[str, str], ...] = (
    ("Visitor badge 01", "H10301:50:1"),
    ("Visitor badge 02", "H10301:50:2"),
)
VAULT_MEDIA = {
    "encryption_required": True,  # 4-8-5(6): what leaves the vault is encrypted
    "second_person_inspection": True,  # 4-8-5(7)
    "inventory_every_days": 30,  # 4-8-12(2)
    "scan_readers": ["vault-in"],
}
CUSTODY = {
    "visitors": {"card_pools": [{"format": "H10301", "facility": 50, "first": 1, "last": 99}]}
}


CAMERA_ID = "sr-cam"  # issue 7: a simulated camera looking down on the server-room door


def camera_config(url: str) -> dict[str, Any]:
    """The site-file entry of the demo's camera, reading the simulated stream at ``url``."""
    return {
        "id": CAMERA_ID,
        "name": "Server room door, overhead",
        "source": url,
        "door": "sr-door",
        "analysis": {"door_line": 0.5, "inside": "up"},  # the room is above the threshold
        "evidence": {"decisions": True, "alarms": True, "clips": "alarms"},
    }


def sim_spec(data_dir: Path, *, camera: bool = True) -> dict[str, Any]:
    """The firmware-sim spec for the demo's devices (with the door camera unless told not to)."""
    return {
        "state_dir": str(data_dir),
        "control": {"host": "127.0.0.1", "port": 0},
        "osdp_buses": [
            {
                "id": "bus1",
                "link": "dev/osdp-bus1",
                "readers": [
                    {"id": "sr-in", "address": 1, "scbk_file": "keys/sr-in.scbk", "keypad": True},
                    {"id": "sr-out", "address": 2, "scbk_file": "keys/sr-out.scbk", "keypad": True},
                ],
            }
        ],
        "rdm6300_readers": [{"id": "vault-in", "link": "dev/rdm-vault-in"}],
        "modules": [
            {
                "id": "io1",
                "port": 0,
                "device_id": 1,
                "watchdog_s": 5.0,
                "doors": [
                    {"id": "sr-door", "strike_coil": 0, "contact_input": 0, "rex_input": 1},
                    {"id": "vault-door", "strike_coil": 1, "contact_input": 2, "rex_input": 3},
                ],
                "named_inputs": {"vault-in-tamper": 4},
                "register_count": 3,
                "sensors": [
                    {"id": sensor_id, **wiring} for sensor_id, wiring in SIM_SENSORS.items()
                ],
            }
        ],
        "reader_tamper_inputs": {"vault-in": "io1:4"},
        "door_readers": {"sr-door": ["sr-in", "sr-out"], "vault-door": ["vault-in"]},
        "cameras": [{"id": CAMERA_ID, "port": 0, "door": "sr-door"}] if camera else [],
        "cards": [
            {"label": c.label, "card": c.card, **({"pin": c.pin} if c.pin else {})}
            for p in PEOPLE
            for c in p.cards
        ]
        + [{"label": label, "card": card} for label, card in VISITOR_BADGES]
        + [{"label": f"Media {m['tag']}", "card": m["rfid"]} for m in MEDIA_ITEMS],
    }


def site_file(data_dir: Path, module_port: int) -> dict[str, Any]:
    """The gateway's site file for the demo, pointing at the simulated devices."""
    return {
        "site": {
            "id": SITE_ID,
            "name": "Demo HQ — server room and media vault",
            "timezone": "Asia/Tokyo",
        },
        "storage": {"path": "sekisho.db"},
        "osdp_buses": [{"id": "bus1", "port": str(data_dir / "dev/osdp-bus1"), "baud": 115200}],
        "readers": [
            {
                "id": "sr-in",
                "kind": "osdp",
                "bus": "bus1",
                "address": 1,
                "scbk_file": "keys/sr-in.scbk",
            },
            {
                "id": "sr-out",
                "kind": "osdp",
                "bus": "bus1",
                "address": 2,
                "scbk_file": "keys/sr-out.scbk",
            },
            {
                "id": "vault-in",
                "kind": "rdm6300",
                "port": str(data_dir / "dev/rdm-vault-in"),
                "tamper_input": {"module": "io1", "point": 4},
            },
        ],
        "modules": [{"id": "io1", "host": "127.0.0.1", "port": module_port, "device_id": 1}],
        "zones": [
            {
                "id": "server-room",
                "name": "Server room (情報システム室)",
                "kind": "server_room",
                "anti_passback": "soft",
                "require_purpose": True,
                "recertify_days": 90,
                "lone_occupant_alarm_s": 900,
                "escort": {"required": True, "contractors": True, "window_s": 20},
            },
            {
                "id": "media-vault",
                "name": "Media vault (媒体保管庫)",
                "kind": "media_vault",
                "media": copy.deepcopy(VAULT_MEDIA),
            },
        ],
        "doors": [
            {
                "id": "sr-door",
                "name": "Server room door",
                "zone": "server-room",
                "entry_reader": "sr-in",
                "exit_reader": "sr-out",
                "module": "io1",
                "strike_output": 0,
                "contact_input": 0,
                "rex_input": 1,
                "auth": "card_and_pin",
                "strike_time_s": 5,
                "held_open_s": 30,
                "prealarm_s": 10,
            },
            {
                "id": "vault-door",
                "name": "Media vault door",
                "zone": "media-vault",
                "entry_reader": "vault-in",
                "module": "io1",
                "strike_output": 1,
                "contact_input": 2,
                "rex_input": 3,
                "auth": "card",
                "strike_time_s": 5,
                "held_open_s": 20,
                "prealarm_s": 5,
            },
        ],
        "schedules": [
            {
                "id": "office",
                "name": "Office hours (Mon-Fri 08:00-20:00)",
                "week": {d: ["08:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                "holidays": "closed",
            }
        ],
        "holidays": ["2027-01-01", "2027-01-02", "2027-01-03"],
        "pin": {"max_failures": 3, "lockout_s": 300, "entry_timeout_s": 10},
        "sensors": copy.deepcopy(list(SENSORS)),
        "custody": copy.deepcopy(CUSTODY),  # issue 5: the visitor badge pool
    }


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    """Write a YAML file (UTF-8, keys in the order given)."""
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
