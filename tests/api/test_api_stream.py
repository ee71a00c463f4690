"""The live stream over real HTTP (uvicorn on 127.0.0.1): snapshot, updates, role filtering."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from api.security import decode_token
from gateway.clock import utcnow
from tests.api.api_env import ApiEnv, LiveServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

WAIT_S = 20.0  # generous: a loaded 2-core machine


@dataclass(frozen=True)
class Event:
    """One server-sent event."""

    name: str
    data: Any


class EventReader:
    """Parses ``text/event-stream`` lines into events."""

    def __init__(self, resp: httpx.Response) -> None:
        """Read events from a streaming response."""
        self._lines = resp.aiter_lines()

    async def next(self) -> Event:
        """The next event (data parsed as JSON); keep-alive comments are skipped."""
        name, data = "message", None
        while True:
            line = await asyncio.wait_for(anext(self._lines), WAIT_S)
            if line == "":
                if data is not None:
                    return Event(name, data)
                continue
            if line.startswith(":"):
                continue  # keep-alive comment
            key, _, value = line.partition(": ")
            if key == "event":
                name = value
            elif key == "data":
                data = json.loads(value)

    async def until(self, name: str) -> list[Event]:
        """Every event up to and including the first one called ``name``."""
        seen = []
        while True:
            event = await self.next()
            seen.append(event)
            if event.name == name:
                return seen


@asynccontextmanager
async def open_stream(
    live: LiveServer, *, token: str, in_query: bool
) -> AsyncIterator[tuple[httpx.Response, EventReader]]:
    """Open /api/v1/stream over real HTTP with the token in the query or the header."""
    params = {"access_token": token} if in_query else {}
    headers = {} if in_query else {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=live.base_url, timeout=WAIT_S) as client,
        client.stream("GET", "/api/v1/stream", params=params, headers=headers) as resp,
    ):
        yield resp, EventReader(resp)


async def test_stream_starts_with_a_snapshot_then_ready(
    env: ApiEnv, live_server: LiveServer
) -> None:
    async with open_stream(live_server, token=env.tokens["auditor"], in_query=True) as (resp, ev):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = await ev.until("ready")
    doors = {e.data["door_id"]: e.data for e in events if e.name == "door"}
    readers = {e.data["reader_id"] for e in events if e.name == "reader"}
    assert set(doors) == {"d-srv", "d-vault"}
    assert doors["d-vault"]["state"] == "fault"
    assert readers == {"r-srv-in", "r-vault-in"}
    assert events[-1].data == {"doors": 2, "readers": 2}


async def test_records_go_only_to_roles_with_events_read(
    env: ApiEnv, live_server: LiveServer
) -> None:
    async with (
        open_stream(live_server, token=env.tokens["operator"], in_query=True) as (_, desk),
        open_stream(live_server, token=env.tokens["admin"], in_query=False) as (_, admin),
    ):
        await desk.until("ready")
        await admin.until("ready")
        # First a change that makes only a record, then one that also moves a door.
        resp = await env.client.post(
            "/api/v1/people",
            headers=env.auth("operator"),
            json={"kind": "visitor", "name": "Streamed Visitor"},
        )
        assert resp.status_code == 201
        resp = await env.client.post("/api/v1/doors/d-srv/unlock", headers=env.auth("chief"))
        assert resp.status_code == 200
        unlock_seq = resp.json()["seq"]
        seen = await desk.until("door")
        records = [e.data for e in seen if e.name == "record"]
        assert [r["detail"].get("action") for r in records][:1] == ["person.create"]
        # The admin's feed reaches the door change without the record made before it.
        admin_seen = await admin.until("door")
        assert [e.name for e in admin_seen] == ["door"]
        assert admin_seen[0].data["door_id"] == "d-srv"
        # And the unlock's record reaches the desk.
        while not any(r["seq"] == unlock_seq for r in records):
            event = await desk.next()
            if event.name == "record":
                records.append(event.data)


async def test_stream_without_a_valid_token_is_401(env: ApiEnv, live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=WAIT_S) as client:
        resp = await client.get("/api/v1/stream")
        assert resp.status_code == 401
        resp = await client.get("/api/v1/stream", params={"access_token": "nonsense"})
        assert resp.status_code == 401


async def test_stream_ends_when_the_token_expires(env: ApiEnv, live_server: LiveServer) -> None:
    key = env.settings.secret_key.get_secret_value()
    claims = decode_token(env.tokens["operator"], key=key)
    now = utcnow()
    short = jwt.encode(
        {
            "sub": claims.account_id,
            "role": claims.role,
            "iat": now,
            "exp": now + timedelta(seconds=2),
            "jti": "short-lived",
            "pwv": claims.password_version,
        },
        key,
        algorithm="HS256",
    )
    async with open_stream(live_server, token=short, in_query=True) as (resp, ev):
        assert resp.status_code == 200
        events = await ev.until("expired")
        assert events[-1].name == "expired"
        with pytest.raises(StopAsyncIteration):
            await ev.next()  # the server closed the stream


async def test_access_logs_do_not_keep_the_query_token(
    env: ApiEnv, live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = env.tokens["operator"]
    # uvicorn (started by live_server) gives its access logger its own handler and level.
    access = logging.getLogger("uvicorn.access")
    level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(caplog.handler)
    try:
        # The message and arguments uvicorn's access logger uses for every request.
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:50000",
            "GET",
            f"/api/v1/stream?access_token={token}&x=1",
            "1.1",
            200,
        )
    finally:
        access.removeHandler(caplog.handler)
        access.setLevel(level)
    assert token not in caplog.text
    assert "access_token=[redacted]&x=1" in caplog.text
