"""The record log through the API: filters, keyset paging, read-only (4-8-7(1), 4-8-6(4))."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest

from gateway.clock import utcnow
from gateway.records import NewRecord, RecordKind
from tests.api.api_env import ApiEnv

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _write(env: ApiEnv, count: int, **fields: object) -> list[int]:
    """Append records through the core, as devices and decisions do; returns their seqs."""
    kind = fields.pop("kind", RecordKind.ACCESS)
    ts = fields.pop("ts", None)
    seqs = []
    for _ in range(count):
        rec = NewRecord(kind, ts or utcnow(), **fields)  # type: ignore[arg-type]
        seqs.append(await env.gateway.record(rec))
    return seqs


async def test_paging_is_newest_first_and_ends_exactly(env: ApiEnv) -> None:
    person = secrets.token_hex(16)
    seqs = await _write(env, 7, person_id=person, outcome="granted", credential="H10301:…456")
    headers = env.auth("auditor")
    pages: list[list[int]] = []
    before: int | None = None
    while True:
        params: dict[str, object] = {"person_id": person, "limit": 3}
        if before is not None:
            params["before_seq"] = before
        resp = await env.client.get("/api/v1/events", headers=headers, params=params)
        assert resp.status_code == 200
        body = resp.json()
        pages.append([r["seq"] for r in body["items"]])
        before = body["next_before_seq"]
        if before is None:
            break
    assert pages == [seqs[6:3:-1], seqs[3:0:-1], seqs[:1]]
    # A last page that is exactly full says there is nothing more.
    resp = await env.client.get(
        "/api/v1/events", headers=headers, params={"person_id": person, "limit": 7}
    )
    assert resp.json()["next_before_seq"] is None
    assert len(resp.json()["items"]) == 7


async def test_filters_kind_outcome_door_zone_and_time(env: ApiEnv) -> None:
    door = f"d-{secrets.token_hex(4)}"
    old = utcnow() - timedelta(days=2)
    [forced] = await _write(env, 1, kind=RecordKind.DOOR_FORCED, door_id=door, zone_id="srv")
    [held] = await _write(env, 1, kind=RecordKind.DOOR_HELD, door_id=door, zone_id="srv")
    [closed] = await _write(env, 1, kind=RecordKind.DOOR_CLOSED, door_id=door, zone_id="vault")
    [denied] = await _write(env, 1, door_id=door, outcome="denied", reason="Unauthorized")
    [ancient] = await _write(env, 1, door_id=door, outcome="granted", ts=old)
    headers = env.auth("chief")

    async def seqs(**params: object) -> list[int]:
        """Seqs of this door's records matching ``params``, newest first."""
        resp = await env.client.get(
            "/api/v1/events", headers=headers, params={"door_id": door, **params}
        )
        assert resp.status_code == 200, resp.text
        return [r["seq"] for r in resp.json()["items"]]

    assert await seqs(kind=["door.forced", "door.held"]) == [held, forced]
    assert await seqs(outcome="denied") == [denied]
    assert await seqs(zone_id="vault") == [closed]
    since = (utcnow() - timedelta(days=1)).isoformat()
    assert ancient not in await seqs(since=since)
    assert await seqs(until=since) == [ancient]
    resp = await env.client.get(f"/api/v1/events/{denied}", headers=headers)
    assert resp.json()["reason"] == "Unauthorized"
    assert datetime.fromisoformat(resp.json()["ts"]).utcoffset() == timedelta(0)


async def test_unknown_seq_is_404(env: ApiEnv) -> None:
    resp = await env.client.get(f"/api/v1/events/{2**31 - 1}", headers=env.auth("auditor"))
    assert resp.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 10**6},
        {"kind": "door.teleported"},
        {"outcome": "maybe"},
        {"since": "yesterday"},
        {"before_seq": -1},
        {"before_seq": 2**70},
        {"person_id": "x" * 40},
    ],
)
async def test_bad_queries_are_422(env: ApiEnv, params: dict[str, object]) -> None:
    resp = await env.client.get("/api/v1/events", headers=env.auth("auditor"), params=params)
    assert resp.status_code == 422, resp.text


async def test_admin_cannot_read_records(env: ApiEnv) -> None:
    # 4-8-6(6): the administrator has no right to the records.
    for path in ("/api/v1/events", "/api/v1/events/1"):
        resp = await env.client.get(path, headers=env.auth("admin"))
        assert resp.status_code == 403


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_no_method_writes_edits_or_deletes_records(env: ApiEnv, method: str) -> None:
    for path in ("/api/v1/events", "/api/v1/events/1"):
        resp = await env.client.request(method, path, headers=env.auth("chief"), json={})
        assert resp.status_code == 405
