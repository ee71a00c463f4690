"""A site folder for drills: the demo's devices in a firmware-sim process, a site file, people.

The gateway under test runs as ``sekisho run --config SITE`` (see ``resilience.launcher``); the
simulator runs once per campaign as its own process, as ``sekisho demo`` runs it, and outlives
every gateway restart. Nothing here is used by a real site.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from api.accounts import create_account
from gateway.domain import CardId, CredentialStatus, PersonKind
from gateway.storage.models import Authorization, Credential, Person
from sekisho import demo_site
from sekisho.app import open_site
from sekisho.audit_runtime import ensure_checkpoint_key
from sekisho.secret_files import create_scbk

SITE_ID = demo_site.SITE_ID
OPERATOR = "desk"  # the drill's operator account (its password is generated per site)
OSDP_FACILITY = 77  # facility code of the drill's H10301 cards (numbers 1..65535)
EM_FACILITY = 78  # facility byte of the drill's EM4100 tags
WAIT_S = 30.0  # generous: a loaded 2-core machine


class RigError(RuntimeError):
    """The drill's site could not be set up or a peer did not come up; the message says why."""


@dataclass(frozen=True, slots=True)
class Cardholder:
    """A person seeded for the drill, with an OSDP card and an EM4100 tag of their own."""

    person_id: str
    osdp_card: str  # H10301:77:n, for the OSDP readers
    em_card: str  # EM4100:78:n, for the RDM6300 reader


@dataclass(frozen=True, slots=True)
class SitePaths:
    """Where a prepared drill site keeps its files."""

    root: Path
    site_file: Path
    sim_spec: Path
    database: Path
    checkpoint_pub: Path
    password: str  # the operator account's


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sim_spec(root: Path) -> dict[str, Any]:
    """The demo's simulated devices without the camera (it would only burn CPU here)."""
    spec = demo_site.sim_spec(root, camera=False)
    spec["control"] = {"host": "127.0.0.1", "port": 0}
    return spec


def site_file(root: Path, module_port: int) -> dict[str, Any]:
    """The demo's site file, card-only at both doors (bursts need no PIN prompts)."""
    raw = demo_site.site_file(root, module_port)
    for door in raw["doors"]:
        door.update({"auth": "card", "strike_time_s": 2, "held_open_s": 30, "prealarm_s": 10})
    return raw


def start_sim(
    root: Path, timeout_s: float = WAIT_S
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Run ``python -m sekisho_sim serve`` on the drill's spec; wait for sim-control.json."""
    root.mkdir(parents=True, exist_ok=True)
    for reader in ("sr-in", "sr-out"):
        key = root / "keys" / f"{reader}.scbk"
        if not key.exists():
            create_scbk(key)
    spec = root / "sim.yaml"
    demo_site.write_yaml(spec, sim_spec(root))
    control = root / "sim-control.json"
    control.unlink(missing_ok=True)
    with (root / "sim.log").open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and module, no shell
            [sys.executable, "-m", "sekisho_sim", "serve", str(spec)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RigError(f"firmware-sim exited ({proc.returncode}); see {root / 'sim.log'}")
        if control.exists():
            with contextlib.suppress(json.JSONDecodeError):
                info = json.loads(control.read_text(encoding="utf-8"))
                if isinstance(info, dict):
                    return proc, info
        time.sleep(0.05)
    stop_process(proc)
    raise RigError(f"firmware-sim did not come up in {timeout_s:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it lingers; always reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)


def prepare_site(
    root: Path,
    module_port: int,
    *,
    people: int,
    patch: Callable[[dict[str, Any]], None] | None = None,
    roles: tuple[str, ...] = (),
) -> tuple[SitePaths, list[Cardholder]]:
    """Write the site file, migrate, create the checkpoint key, accounts and ``people``.

    The operator account is :data:`OPERATOR`; each of ``roles`` gets an account named after
    the role (a manager manages both zones). All share the generated password.
    """
    if not 1 <= people <= 65_535:
        raise RigError(f"people must be 1..65535, got {people}")
    raw = site_file(root, module_port)
    if patch is not None:
        patch(raw)
    path = root / "site.yaml"
    demo_site.write_yaml(path, raw)
    site = open_site(path)
    try:
        ensure_checkpoint_key(site)
        password = secrets.token_urlsafe(12)
        with Session(site.engine) as s:
            create_account(s, SITE_ID, OPERATOR, password, "operator", created_by="drill")
            for role in roles:
                zones = ("server-room", "media-vault") if role == "manager" else ()
                create_account(s, SITE_ID, role, password, role, zones=zones, created_by="drill")
            s.commit()
        holders = seed_people(site.engine, people)
    finally:
        site.engine.dispose()
    key = root / site.config.audit.checkpoint_key
    paths = SitePaths(
        root=root,
        site_file=path,
        sim_spec=root / "sim.yaml",
        database=root / site.config.storage.path,
        checkpoint_pub=key.with_name(key.name + ".pub"),
        password=password,
    )
    return paths, holders


def seed_people(engine: Engine, count: int) -> list[Cardholder]:
    """Staff with one card and one tag each, authorised for both zones at all times."""
    holders: list[Cardholder] = []
    now = datetime.now(UTC)
    with Session(engine) as s:
        for n in range(1, count + 1):
            person = Person(site_id=SITE_ID, kind=PersonKind.STAFF, name=f"Drill {n:05d}")
            s.add(person)
            s.flush()
            for text in (f"H10301:{OSDP_FACILITY}:{n}", f"EM4100:{EM_FACILITY}:{n}"):
                card = CardId.parse(text)
                s.add(
                    Credential(
                        site_id=SITE_ID,
                        person_id=person.id,
                        format=card.format,
                        facility=card.facility,
                        number=card.number,
                        card_key=card.key,
                        status=CredentialStatus.ENABLED,
                    )
                )
            for zone in ("server-room", "media-vault"):
                s.add(
                    Authorization(
                        site_id=SITE_ID,
                        person_id=person.id,
                        zone_id=zone,
                        schedule_id="always",
                        purpose="drill",
                        granted_by="drill",
                        granted_at=now,
                    )
                )
            holders.append(
                Cardholder(person.id, f"H10301:{OSDP_FACILITY}:{n}", f"EM4100:{EM_FACILITY}:{n}")
            )
        s.commit()
    return holders


class SimControl:
    """The simulator's control surface (HTTP/JSON on loopback)."""

    def __init__(self, url: str) -> None:
        """A client on the sim's control URL."""
        self._url = url
        self._http = httpx.AsyncClient(base_url=url, timeout=WAIT_S)

    async def close(self) -> None:
        """Close the client."""
        await self._http.aclose()

    async def reconnect(self) -> None:
        """A fresh connection pool (see :meth:`Api.reconnect`)."""
        await self._http.aclose()
        self._http = httpx.AsyncClient(base_url=self._url, timeout=WAIT_S)

    async def call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        """One request; raises RigError for an answer other than 200 or 409."""
        resp = await self._http.request(method, route, json=body)
        if resp.status_code not in (200, 409):
            raise RigError(f"sim {method} {route}: {resp.status_code} {resp.text}")
        return resp.json()

    async def badge(self, reader: str, card: str) -> None:
        """Present a card at a reader."""
        await self.call("POST", "/badge", {"reader": reader, "card": card})

    async def door(self, door: str, action: str) -> bool:
        """Do something to a door; False when the world refused (e.g. locked)."""
        resp = await self._http.post("/door", json={"door": door, "action": action})
        return resp.status_code == 200

    async def fault(self, device: str, action: str) -> None:
        """Cut or restore a reader, bus or module."""
        await self.call("POST", "/fault", {"device": device, "action": action})

    async def feedback(self, reader: str) -> list[dict[str, Any]]:
        """LED/buzzer commands the gateway sent to a reader, oldest first."""
        out = await self.call("GET", f"/readers/{reader}/feedback")
        return list(out) if isinstance(out, list) else list(out.get("feedback", []))

    async def door_view(self, door: str) -> dict[str, Any]:
        """The simulated door now (open, strike_released, ...)."""
        return dict(await self.call("GET", f"/doors/{door}"))


class Api:
    """The gateway's REST API as the drill's operator."""

    def __init__(self, port: int, password: str, username: str = OPERATOR) -> None:
        """A client on 127.0.0.1:``port``; log in with :meth:`login`."""
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self._password = password
        self._username = username
        self._http = httpx.AsyncClient(base_url=self.base, timeout=10.0)
        self._headers: dict[str, str] = {}

    async def close(self) -> None:
        """Close the client."""
        await self._http.aclose()

    async def reconnect(self) -> None:
        """A fresh connection pool, after the gateway was killed.

        Requests cancelled mid-flight by a kill leave their connections checked out of httpx's
        pool (CLOSE-WAIT, never reused); after a few hundred kills the pool's 100 slots were
        all taken and every request timed out, which looked like a gateway that never started.
        """
        await self._http.aclose()
        self._http = httpx.AsyncClient(base_url=self.base, timeout=10.0)

    async def up(self) -> bool:
        """True when the API answers its health route."""
        try:
            return (await self._http.get("/health", timeout=2.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def login(self) -> None:
        """Get a token (it stays valid across restarts: the key is in the data folder)."""
        resp = await self._http.post(
            "/auth/token", data={"username": self._username, "password": self._password}
        )
        if resp.status_code != 200:
            raise RigError(f"login failed: {resp.status_code} {resp.text}")
        self._headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}

    @property
    def logged_in(self) -> bool:
        """True once :meth:`login` got a token."""
        return bool(self._headers)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value of the token."""
        return self._headers["Authorization"]

    async def request(self, method: str, route: str, **kw: Any) -> httpx.Response:
        """A request with the operator's token; logs in again once when the token has expired.

        Tokens are short-lived (the long crash run outlasts one); a 401 changed nothing, so the
        request is safe to repeat.
        """
        resp = await self._http.request(method, route, headers=self._headers, **kw)
        if resp.status_code == 401 and self._headers:
            await self.login()
            resp = await self._http.request(method, route, headers=self._headers, **kw)
        return resp

    async def get(self, route: str, **kw: Any) -> Any:
        """GET and decode; RigError unless 200."""
        resp = await self.request("GET", route, **kw)
        if resp.status_code != 200:
            raise RigError(f"GET {route}: {resp.status_code} {resp.text}")
        return resp.json()
