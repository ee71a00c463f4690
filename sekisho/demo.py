"""`sekisho demo`: simulated devices + gateway + API + dashboard for a sample site, on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from api.accounts import create_account
from gateway.domain import CardId, CredentialStatus, PersonKind
from gateway.hashing import hash_secret
from gateway.records import NewRecord, RecordKind
from gateway.runtime import Gateway
from gateway.storage.models import (
    Account,
    Authorization,
    Credential,
    MediaItemRow,
    MediaMovementRow,
    Person,
)
from sekisho import demo_site
from sekisho.app import describe_mqtt, open_site, serve
from sekisho.audit_runtime import ensure_checkpoint_key
from sekisho.secret_files import create_scbk, write_private


class DemoError(RuntimeError):
    """The demo could not start; the message says why."""


def default_data_dir() -> Path:
    """SEKISHO_DATA_DIR, else ./sekisho-demo (the sim CLI looks in the same place)."""
    return Path(os.environ.get("SEKISHO_DATA_DIR", "sekisho-demo")).resolve()


def start_sim(
    data_dir: Path, timeout_s: float = 20.0
) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    """Run firmware-sim as its own process (the other side of the wire) and wait until it is up."""
    spec = data_dir / "sim.yaml"
    demo_site.write_yaml(spec, demo_site.sim_spec(data_dir))
    control = data_dir / "sim-control.json"
    control.unlink(missing_ok=True)
    log = (data_dir / "sim.log").open("ab")
    proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and module, no shell
        [sys.executable, "-m", "sekisho_sim", "serve", str(spec)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us; we stop the sim ourselves
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(
                f"the device simulator exited (code {proc.returncode}); see {data_dir / 'sim.log'}"
            )
        if control.exists():
            with contextlib.suppress(json.JSONDecodeError):
                info = json.loads(control.read_text(encoding="utf-8"))
                if isinstance(info, dict):
                    return proc, info
        time.sleep(0.05)
    proc.terminate()
    raise DemoError(
        f"the device simulator did not come up in {timeout_s:.0f} s; see {data_dir / 'sim.log'}"
    )


def seed(engine: Engine) -> int:
    """Sample people, cards and authorizations, once (when the database has no person)."""
    site_id = demo_site.SITE_ID
    now = datetime.now(UTC)
    with Session(engine) as s:
        if s.scalar(select(func.count()).select_from(Person)):
            return 0
        for p in demo_site.PEOPLE:
            kind = PersonKind(p.kind)
            person = Person(
                site_id=site_id,
                kind=kind,
                name=p.name,
                organisation=p.organisation,
                contract_end=now + timedelta(days=60) if kind is PersonKind.CONTRACTOR else None,
            )
            s.add(person)
            s.flush()
            for c in p.cards:
                card = CardId.parse(c.card)
                s.add(
                    Credential(
                        site_id=site_id,
                        person_id=person.id,
                        format=card.format,
                        facility=card.facility,
                        number=card.number,
                        card_key=card.key,
                        pin_hash=hash_secret(c.pin) if c.pin else None,
                        status=CredentialStatus(p.status),
                        valid_to=now + timedelta(days=90) if kind.is_outsider else None,
                    )
                )
            for zone, schedule in p.zones:
                s.add(
                    Authorization(
                        site_id=site_id,
                        person_id=person.id,
                        zone_id=zone,
                        schedule_id=schedule,
                        purpose="demo: routine operations"
                        if kind is PersonKind.STAFF
                        else "demo: maintenance",
                        granted_by="manager",
                    )
                )
        _seed_media(s, site_id, now)
        s.commit()
    return len(demo_site.PEOPLE)


def _seed_media(s: Session, site_id: str, now: datetime) -> None:
    """The vault's sample media (issue 5), each with its first ledger line."""
    for line, m in enumerate(demo_site.MEDIA_ITEMS, start=1):
        item = MediaItemRow(
            site_id=site_id,
            kind=m["kind"],
            tag=m["tag"],
            rfid=m["rfid"],
            description=m["description"],
            classification=m["classification"],
            encrypted=m["encrypted"],
            home_zone="media-vault",
            home_location=m["home_location"],
            state="home",
            zone_id="media-vault",
            registered_by="sekisho demo",
            registered_at=now,
            updated_at=now,
        )
        s.add(item)
        s.flush()
        s.add(
            MediaMovementRow(
                site_id=site_id,
                line=line,
                item_id=item.id,
                at=now,
                movement="registered",
                state_to="home",
                location_to=f"media-vault: {m['home_location']}",
                zone_id="media-vault",
                actor="sekisho demo",
            )
        )


def ensure_accounts(engine: Engine, path: Path) -> bool:
    """Create the demo accounts with generated passwords; keep them in a 0600 JSON file."""
    if path.exists():
        return False
    site_id = demo_site.SITE_ID
    out: dict[str, dict[str, str]] = {}
    with Session(engine) as s:
        if s.scalar(select(func.count()).select_from(Account)):
            raise DemoError(
                f"{path} is missing but the database already has accounts; use a new --data-dir"
            )
        for username, role, display in demo_site.ACCOUNTS:
            password = secrets.token_urlsafe(12)
            zones = ("server-room", "media-vault") if role == "manager" else ()
            create_account(
                s,
                site_id,
                username,
                password,
                role,
                zones=zones,
                created_by="sekisho demo",
                display_name=display,
            )
            out[username] = {"password": password, "role": role}
    write_private(path, json.dumps(out, indent=2) + "\n")
    return True


MQTT_OFF = "MQTT:       off, no broker needed (SEKISHO_DEMO_MQTT=host:port publishes to one)"


def demo_mqtt() -> dict[str, object] | None:
    """An ``mqtt:`` section when SEKISHO_DEMO_MQTT=host:port names a broker; else MQTT is off.

    The demo needs no broker: without the variable it runs with MQTT off and says so.
    """
    where = os.environ.get("SEKISHO_DEMO_MQTT", "").strip()
    if not where:
        return None
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise DemoError(f"SEKISHO_DEMO_MQTT={where!r}: give host:port, e.g. 127.0.0.1:1883")
    return {"host": host, "port": int(port)}


def banner(data_dir: Path, port: int, exe: str, mqtt: str = MQTT_OFF) -> str:
    """What the person who started the demo needs to know."""
    url = f"http://127.0.0.1:{port}/"
    lines = [
        "",
        "Sekisho demo is running — simulated server room and media vault",
        f"  Dashboard:  {url}",
        f"  API:        {url}api/v1/docs",
        f"  Accounts:   {data_dir / 'demo-accounts.json'}  (generated passwords; e.g. 'operator')",
        f"  Data:       {data_dir}",
        f"  {mqtt}",
        "",
        "Act as people at the doors (in another terminal):",
        f"  {exe} sim list",
        f"  {exe} sim badge sr-in 'Sato Hanako' --pin 2468     # granted, card+PIN",
        f"  {exe} sim door sr-door open                          # walk through",
        f"  {exe} sim badge sr-in 'Yamada Taro'                  # denied: Unauthorized",
        f"  {exe} sim badge sr-in 'Ito Mai' --pin 7531         # a visitor waits for an escort...",
        f"  {exe} sim badge sr-in 'Sato Hanako' --pin 2468     # ...who badges: both go in",
        f"  {exe} sim door vault-door force                      # forced-open alarm",
        f"  {exe} sim fault io1 cut                              # module lost: doors in fault",
        f"  {exe} sim camera sr-cam walk --people 2              # two through on one badge:"
        " tailgating",
        f"  {exe} sim camera sr-cam wander                       # motion in the empty room",
        f"  {exe} sim camera sr-cam cover                        # blinded camera (uncover after)",
        f"  {exe} sim badge vault-in 'Media LTO-0001'            # in a vault inventory: a scan",
        "  Visitors, contractors, media: /api/v1/visits, /api/v1/contractors, /api/v1/media"
        " (docs/visitors-and-media.md)",
        "",
        "Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


def main(data_dir: Path | None, host: str, port: int) -> None:
    """Start the simulated devices, prepare the site, and run the gateway with its API."""
    data_dir = data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    for reader in ("sr-in", "sr-out"):
        create_scbk(data_dir / "keys" / f"{reader}.scbk")
    proc, info = start_sim(data_dir)
    try:
        modules = info.get("modules")
        if not isinstance(modules, dict) or not isinstance(modules.get("io1"), int):
            raise DemoError(f"unexpected sim-control.json: {info}")
        site_path = data_dir / "site.yaml"
        site_raw = demo_site.site_file(data_dir, modules["io1"])
        cameras = info.get("cameras")  # issue 7: the simulated camera over the server-room door
        if isinstance(cameras, dict) and isinstance(cameras.get(demo_site.CAMERA_ID), str):
            site_raw["cameras"] = [demo_site.camera_config(cameras[demo_site.CAMERA_ID])]
        mqtt = demo_mqtt()
        if mqtt is not None:
            site_raw["mqtt"] = mqtt
        demo_site.write_yaml(site_path, site_raw)
        site = open_site(site_path)
        ensure_checkpoint_key(site)  # issue 4: the demo signs its checkpoints (0600 key file)
        seeded = seed(site.engine)
        ensure_accounts(site.engine, data_dir / "demo-accounts.json")
        exe = sys.argv[0] if sys.argv and sys.argv[0].endswith("sekisho") else "sekisho"

        async def ready(gateway: Gateway, bound: int) -> None:
            if seeded:
                detail = {"event": "demo data seeded", "people": seeded}
                await gateway.record(NewRecord(RecordKind.SYSTEM, datetime.now(UTC), detail=detail))
            mqtt_line = describe_mqtt(site.config) if site.config.mqtt else MQTT_OFF
            print(banner(data_dir, bound, exe, mqtt_line), flush=True)  # noqa: T201 -- the demo talks to its user

        asyncio.run(serve(site, data_dir=data_dir, host=host, port=port, on_ready=ready))
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
