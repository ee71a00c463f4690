"""The benchmark site: 64 doors in 8 zones, 128 OSDP readers on 8 buses, 4 I/O modules.

Two files are written from one layout, as ``sekisho demo`` does at small scale: the
firmware-sim spec (the other side of the wire, run as its own process) and the gateway's site
file pointing at the links and ports the sim opened. Every zone has every server-room rule on
(anti-passback, purpose, training, recertification, lone-occupant alarm, escort of
outsiders); doors are card-only (a PIN is a person typing, not the system) and relock 0.5 s
after a release nobody walked through, so a door badged once a second is locked again before
the next badge.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sekisho.bench.population import COURSE
from sekisho.secret_files import create_scbk

SITE_ID = "bench"
RULES_ON: dict[str, Any] = {
    "anti_passback": "soft",
    "require_purpose": True,
    "require_training": COURSE,
    "recertify_days": 90,
    "lone_occupant_alarm_s": 3600,
    "escort": {"required": True, "contractors": True},
}
DOOR_TIMINGS = {"strike_time_s": 0.5, "held_open_s": 30, "prealarm_s": 5}


@dataclass(frozen=True, slots=True)
class Door:
    """One door of the layout and where it is wired."""

    index: int
    zone: int
    bus: int
    module: int

    @property
    def id(self) -> str:
        """The door id."""
        return f"door-{self.index:02}"

    @property
    def entry_reader(self) -> str:
        """The reader outside."""
        return f"r-{self.index:02}-in"

    @property
    def exit_reader(self) -> str:
        """The reader inside."""
        return f"r-{self.index:02}-out"

    @property
    def zone_id(self) -> str:
        """The zone the door leads into."""
        return f"zone-{self.zone}"

    @property
    def module_id(self) -> str:
        """The I/O module the door is wired to."""
        return f"io-{self.module}"

    @property
    def coil(self) -> int:
        """The strike coil on its module."""
        return self.index % DOORS_PER_MODULE


DOORS_PER_MODULE = 16


@dataclass(frozen=True, slots=True)
class Layout:
    """How many doors, zones and buses (defaults: the issue's 64 doors and 128 readers)."""

    doors: int = 64
    zones: int = 8
    buses: int = 8

    def __post_init__(self) -> None:
        """Refuse layouts the wiring cannot take."""
        if self.doors < 1 or self.zones < 1 or self.buses < 1:
            raise ValueError("a layout needs doors, zones and buses")
        if -(-self.doors // self.buses) * 2 > 126:
            raise ValueError("more than 126 readers on one OSDP bus")

    @property
    def zone_ids(self) -> tuple[str, ...]:
        """Every zone id."""
        return tuple(f"zone-{z}" for z in range(self.zones))

    @property
    def modules(self) -> int:
        """I/O modules (16 doors each)."""
        return -(-self.doors // DOORS_PER_MODULE)

    def door_list(self) -> list[Door]:
        """Every door, zones and buses dealt out in blocks."""
        per_zone = -(-self.doors // self.zones)
        per_bus = -(-self.doors // self.buses)
        return [
            Door(d, d // per_zone, d // per_bus, d // DOORS_PER_MODULE) for d in range(self.doors)
        ]

    def readers_on_bus(self, bus: int) -> list[tuple[str, int]]:
        """(reader id, OSDP address) of every reader on a bus."""
        out: list[tuple[str, int]] = []
        for door in (d for d in self.door_list() if d.bus == bus):
            out += [(door.entry_reader, len(out) + 1), (door.exit_reader, len(out) + 2)]
        return out


def layout_for(doors: int | None) -> Layout | None:
    """A smaller layout with ``doors`` doors (up to 8 zones, 8 doors a bus); None: the default."""
    if doors is None:
        return None
    return Layout(doors=doors, zones=min(8, doors), buses=max(1, -(-doors // 8)))


def write_keys(layout: Layout, data_dir: Path) -> None:
    """A Secure Channel key file (0600) per reader, shared by the sim and the gateway."""
    for bus in range(layout.buses):
        for reader, _ in layout.readers_on_bus(bus):
            create_scbk(data_dir / "keys" / f"{reader}.scbk")


def sim_spec(layout: Layout, data_dir: Path) -> dict[str, Any]:
    """The firmware-sim spec of the layout."""
    doors = layout.door_list()
    return {
        "state_dir": str(data_dir),
        "control": {"host": "127.0.0.1", "port": 0},
        "osdp_buses": [
            {
                "id": f"bus-{b}",
                "link": f"dev/osdp-bus-{b}",
                "readers": [
                    {"id": r, "address": a, "scbk_file": f"keys/{r}.scbk", "keypad": True}
                    for r, a in layout.readers_on_bus(b)
                ],
            }
            for b in range(layout.buses)
        ],
        "modules": [
            {
                "id": f"io-{m}",
                "port": 0,
                "device_id": 1,
                "coil_count": DOORS_PER_MODULE,
                "input_count": 2 * DOORS_PER_MODULE,
                "doors": [
                    {
                        "id": d.id,
                        "strike_coil": d.coil,
                        "contact_input": d.coil,
                        "rex_input": DOORS_PER_MODULE + d.coil,
                    }
                    for d in doors
                    if d.module == m
                ],
            }
            for m in range(layout.modules)
        ],
        "door_readers": {d.id: [d.entry_reader, d.exit_reader] for d in doors},
    }


def site_file(
    layout: Layout,
    data_dir: Path,
    module_ports: dict[str, int],
    *,
    mqtt_port: int | None = None,
) -> dict[str, Any]:
    """The gateway's site file for the layout, on the sim's links and ports."""
    doors = layout.door_list()
    site: dict[str, Any] = {
        "site": {"id": SITE_ID, "name": "Benchmark site", "timezone": "Asia/Tokyo"},
        "storage": {"path": "sekisho.db"},
        "osdp_buses": [
            {"id": f"bus-{b}", "port": str(data_dir / f"dev/osdp-bus-{b}"), "baud": 115200}
            for b in range(layout.buses)
        ],
        "readers": [
            {
                "id": r,
                "kind": "osdp",
                "bus": f"bus-{b}",
                "address": a,
                "scbk_file": f"keys/{r}.scbk",
            }
            for b in range(layout.buses)
            for r, a in layout.readers_on_bus(b)
        ],
        "modules": [
            {"id": m, "host": "127.0.0.1", "port": port, "device_id": 1}
            for m, port in sorted(module_ports.items())
        ],
        "zones": [
            {"id": z, "name": f"Server room {n}", "kind": "server_room", **RULES_ON}
            for n, z in enumerate(layout.zone_ids)
        ],
        "doors": [
            {
                "id": d.id,
                "name": f"Door {d.index}",
                "zone": d.zone_id,
                "entry_reader": d.entry_reader,
                "exit_reader": d.exit_reader,
                "module": d.module_id,
                "strike_output": d.coil,
                "contact_input": d.coil,
                "rex_input": DOORS_PER_MODULE + d.coil,
                "auth": "card",
                **DOOR_TIMINGS,
            }
            for d in doors
        ],
    }
    if mqtt_port is not None:
        site["mqtt"] = {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "prefix": f"sekisho-bench/{secrets.token_hex(4)}",
            "discovery": {"enabled": False},
            "reconnect_max_s": 1,
        }
    return site
