"""Helpers of the API tests: the test site, settings, and the ApiEnv handle the fixtures build."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.accounts import create_account
from api.settings import Settings
from gateway.alarms.stack import AlarmStack
from gateway.custody_stack import CustodyStack
from gateway.domain import PersonKind
from gateway.runtime import Gateway
from gateway.storage.models import Account, Person, Record
from sekisho_sim.io_module import SimIOModule

PASSWORD = "correct horse battery staple"
ROLES = ("chief", "manager", "operator", "auditor", "admin")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

SITE: dict[str, Any] = {
    "site": {"id": "hq", "name": "Head office, 3F"},
    "modules": [{"id": "io1", "port": 1502}, {"id": "io2", "port": 1503}],
    "readers": [
        {"id": "r-srv-in", "kind": "rdm6300", "port": "/dev/sekisho-test-srv"},
        {"id": "r-vault-in", "kind": "rdm6300", "port": "/dev/sekisho-test-vault"},
    ],
    "zones": [
        {"id": "srv", "name": "Server room", "recertify_days": 90},  # issue 3, 4-8-7(3)
        {"id": "vault", "name": "Media vault", "kind": "media_vault"},
    ],
    "doors": [
        {
            "id": "d-srv",
            "name": "Server room door",
            "zone": "srv",
            "entry_reader": "r-srv-in",
            "module": "io1",
            "strike_output": 0,
            "contact_input": 0,
            "strike_time_s": 1.0,
        },
        {
            "id": "d-vault",
            "name": "Vault door",
            "zone": "vault",
            "entry_reader": "r-vault-in",
            "module": "io2",
            "strike_output": 0,
            "contact_input": 0,
        },
    ],
    "schedules": [{"id": "office", "name": "Office hours", "week": {"mon": ["08:00-18:00"]}}],
    "pin": {"min_length": 4, "max_length": 6},
}


def make_settings(**overrides: Any) -> Settings:
    """Settings with a fresh random key (nothing in the code has a default one)."""
    values: dict[str, Any] = {"secret_key": secrets.token_urlsafe(48), **overrides}
    return Settings(**values)


async def wait_for(check: Callable[[], bool], within: float = 15.0, what: str = "") -> None:
    """Poll ``check`` until it is true; generous for a loaded 2-core machine."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)


def postgres_available() -> bool:
    """True when PostgreSQL answers on 127.0.0.1:5432."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@dataclass(repr=False)
class ApiEnv:
    """Everything a test needs to talk to the API and look behind it."""

    backend: str
    app: FastAPI
    client: httpx.AsyncClient
    gateway: Gateway
    engine: Engine
    settings: Settings
    sim: SimIOModule
    site_id: str
    accounts: dict[str, Account] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)  # label -> person id
    stack: AlarmStack | None = None  # alarms, sensors and incidents (issue 6)
    custody: CustodyStack | None = None  # visits, contractors, media custody (issue 5)

    def __repr__(self) -> str:
        """No tokens or hashes in failure reports."""
        return f"ApiEnv({self.backend})"

    def auth(self, who: str) -> dict[str, str]:
        """Authorization header for one of the role accounts (or any token name kept)."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        """POST the OAuth2 password form."""
        return await self.client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )

    async def token_for(self, username: str, password: str = PASSWORD) -> str:
        """Log in and return the bearer token (asserting success)."""
        resp = await self.login(username, password)
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["access_token"]
        return token

    def add_account(self, username: str, role: str, **kwargs: Any) -> Account:
        """Create an account straight in the store (as ``sekisho admin create`` does)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return create_account(session, self.site_id, username, PASSWORD, role, **kwargs)

    def add_person(self, name: str, kind: PersonKind = PersonKind.STAFF) -> str:
        """Create a person straight in the store; returns the id."""
        with Session(self.engine, expire_on_commit=False) as session:
            person = Person(site_id=self.site_id, kind=kind, name=name)
            session.add(person)
            session.commit()
            return person.id

    def records(self, since_seq: int = 0, kind: str | None = None) -> list[Record]:
        """Records written after ``since_seq``, oldest first."""
        with Session(self.engine) as session:
            stmt = select(Record).where(Record.site_id == self.site_id, Record.seq > since_seq)
            if kind is not None:
                stmt = stmt.where(Record.kind == kind)
            return list(session.exec(stmt.order_by(col(Record.seq))))

    def last_seq(self) -> int:
        """The newest record's seq (0 when there is none)."""
        rows = self.records()
        return rows[-1].seq if rows else 0


@dataclass
class LiveServer:
    """The app served by uvicorn on 127.0.0.1 (a free port), for streaming responses."""

    base_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]
