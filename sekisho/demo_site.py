"""The demo site: a server room with entry and exit readers and a media vault, on simulated devices.

Everything here is sample data for `sekisho demo`; nothing of it is used by a real site.
"""

from __future__ import annotations

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


def sim_spec(data_dir: Path) -> dict[str, Any]:
    """The firmware-sim spec for the demo's devices."""
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
            }
        ],
        "reader_tamper_inputs": {"vault-in": "io1:4"},
        "door_readers": {"sr-door": ["sr-in", "sr-out"], "vault-door": ["vault-in"]},
        "cards": [
            {"label": c.label, "card": c.card, **({"pin": c.pin} if c.pin else {})}
            for p in PEOPLE
            for c in p.cards
        ],
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
            {"id": "server-room", "name": "Server room (情報システム室)", "kind": "server_room"},
            {"id": "media-vault", "name": "Media vault (媒体保管庫)", "kind": "media_vault"},
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
    }


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    """Write a YAML file (UTF-8, keys in the order given)."""
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
