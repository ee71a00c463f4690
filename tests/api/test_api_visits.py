"""Visits and contractors over HTTP (4-8-7(1), 4-8-9): roles, separation of duties, records.

The desk (operator) registers and checks in and out; a zone's manager approves, never a visit
they registered or host; the auditor reads the visitor log (its CSV export is recorded); the
admin has no access. Contract terms are a manager's; the decision follows them.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.domain import PersonKind
from tests.api.api_env import ApiEnv

pytestmark = pytest.mark.asyncio(loop_scope="module")


def window(hours: float = 4) -> dict[str, str]:
    """A visit window from now."""
    now = datetime.now(UTC)
    return {
        "valid_from": now.isoformat(),
        "valid_to": (now + timedelta(hours=hours)).isoformat(),
    }


async def grant(env: ApiEnv, person: str, zone: str = "srv") -> None:
    """A standing authorization, granted by the zone's manager through the API."""
    resp = await env.client.post(
        "/api/v1/authorizations",
        headers=env.auth("manager"),
        json={"person_id": person, "zone_id": zone},
    )
    assert resp.status_code == 201, resp.text


async def register(env: ApiEnv, host: str, who: str = "operator", **extra: Any) -> dict[str, Any]:
    """POST a visit to the server room; returns the response body (asserting 201)."""
    body = {
        "visitor": {"name": "Ito Mai", "organisation": "Example Systems Integrator"},
        "host_id": host,
        "purpose": "storage array firmware update",
        "zones": ["srv"],
        **window(),
        **extra,
    }
    resp = await env.client.post("/api/v1/visits", headers=env.auth(who), json=body)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def test_a_visit_over_the_api_with_the_roles_of_the_map(env: ApiEnv) -> None:
    host = env.add_person("Hana Host")
    escort = env.add_person("Eiji Escort")
    await grant(env, escort)
    after = env.last_seq()
    for who in ("admin", "auditor", "chief"):
        resp = await env.client.post(
            "/api/v1/visits",
            headers=env.auth(who),
            json={"host_id": host, "purpose": "x", "zones": ["srv"], **window()},
        )
        assert resp.status_code == 403, who
    visit = await register(env, host)
    assert (visit["status"], visit["pending_zones"], visit["requested_by"]) == (
        "requested",
        ["srv"],
        "operator",
    )
    path = f"/api/v1/visits/{visit['id']}"
    assert (
        await env.client.post(f"{path}/approve", headers=env.auth("operator"))
    ).status_code == 403
    resp = await env.client.post(
        f"{path}/approve", headers=env.auth("manager"), json={"note": "ok"}
    )
    assert resp.status_code == 200 and resp.json()["status"] == "approved", resp.text
    checkin = {
        "id_document_type": "passport",
        "id_document_last": "7731",
        "card": "H10301:50:21",
        "escort_id": escort,
        "pin": "4826",
    }
    resp = await env.client.post(f"{path}/check-in", headers=env.auth("manager"), json=checkin)
    assert resp.status_code == 403  # the desk checks visitors in
    bad = {**checkin, "id_document_last": "TK1234567"}  # more than the last digits
    resp = await env.client.post(f"{path}/check-in", headers=env.auth("operator"), json=bad)
    assert resp.status_code == 422
    resp = await env.client.post(f"{path}/check-in", headers=env.auth("operator"), json=checkin)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["status"], body["card_masked"], body["escort_name"]) == (
        "checked_in",
        "H10301:…21",
        "Eiji Escort",
    )
    assert "pin" not in body and "4826" not in resp.text
    resp = await env.client.get(path, headers=env.auth("auditor"))
    assert resp.status_code == 200 and resp.json()["id_document_last"] == "7731"
    assert (await env.client.get(path, headers=env.auth("admin"))).status_code == 403
    resp = await env.client.post(
        f"{path}/check-out", headers=env.auth("operator"), json={"credential_returned": True}
    )
    assert resp.status_code == 200 and resp.json()["status"] == "checked_out"
    resp = await env.client.post(
        f"{path}/check-out", headers=env.auth("operator"), json={"credential_returned": True}
    )
    assert resp.status_code == 409
    kinds = [(r.kind, r.actor) for r in env.records(after) if r.kind.startswith("visit.")]
    assert kinds == [
        ("visit.registered", "operator"),
        ("visit.approved", "manager"),
        ("visit.checked_in", "operator"),
        ("visit.checked_out", "operator"),
    ]


async def test_a_manager_never_approves_a_visit_they_registered_or_host(env: ApiEnv) -> None:
    mine = await register(env, env.add_person("Someone Else"), who="manager")
    resp = await env.client.post(
        f"/api/v1/visits/{mine['id']}/approve", headers=env.auth("manager")
    )
    assert resp.status_code == 403 and "registered" in resp.json()["detail"]
    hosted = await register(env, env.people["manager"])  # Mina hosts it
    resp = await env.client.post(
        f"/api/v1/visits/{hosted['id']}/approve", headers=env.auth("manager")
    )
    assert resp.status_code == 403 and "host" in resp.json()["detail"]
    resp = await env.client.post(
        f"/api/v1/visits/{hosted['id']}/cancel", headers=env.auth("operator"), json={"note": "off"}
    )
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"


async def test_bad_visit_requests_are_refused_with_422(env: ApiEnv) -> None:
    host = env.add_person("Host Two")
    base = {"host_id": host, "purpose": "p", "zones": ["srv"], **window()}
    cases = [
        {**base, "visitor": {"name": "A"}, "visitor_id": host},  # both ways
        {**base},  # neither
        {**base, "visitor": {"name": "A"}, "zones": []},
        {**base, "visitor": {"name": "A"}, "zones": ["nowhere"]},
        {**base, "visitor": {"name": "A\u0000"}},
        {**base, "visitor": {"name": "A"}, "valid_to": base["valid_from"]},
        {**base, "visitor": {"name": "A"}, "extra": 1},
    ]
    for body in cases:
        resp = await env.client.post("/api/v1/visits", headers=env.auth("operator"), json=body)
        assert resp.status_code == 422, body
    missing = {**base, "visitor": {"name": "A"}, "host_id": "0" * 32}
    resp = await env.client.post("/api/v1/visits", headers=env.auth("operator"), json=missing)
    assert resp.status_code == 404


async def test_the_visitor_log_as_json_and_as_a_recorded_csv_export(env: ApiEnv) -> None:
    host = env.add_person("Log Host")
    escort = env.add_person("Log Escort")
    await grant(env, escort)
    visit = await register(env, host)
    path = f"/api/v1/visits/{visit['id']}"
    await env.client.post(f"{path}/approve", headers=env.auth("manager"))
    resp = await env.client.post(
        f"{path}/check-in",
        headers=env.auth("operator"),
        json={
            "id_document_type": "company_id",
            "id_document_last": "A9",
            "card": "H10301:50:33",
            "escort_id": escort,
        },
    )
    assert resp.status_code == 200, resp.text
    resp = await env.client.get("/api/v1/visits/log", headers=env.auth("auditor"))
    assert resp.status_code == 200
    entry = next(e for e in resp.json() if e["visit_id"] == visit["id"])
    assert (entry["host_name"], entry["escort_assigned"], entry["id_document_type"]) == (
        "Log Host",
        "Log Escort",
        "company_id",
    )
    after = env.last_seq()
    resp = await env.client.get("/api/v1/visits/log?format=csv", headers=env.auth("auditor"))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text.lstrip("\ufeff"))))
    mine = [r for r in rows if r["visit_id"] == visit["id"]]
    assert len(mine) == 1 and mine[0]["host"] == "Log Host" and mine[0]["id_last_digits"] == "A9"
    export = [r for r in env.records(after) if r.kind == "operator.action"]
    assert len(export) == 1 and export[0].detail["action"] == "visits.log_export"
    assert export[0].actor == "auditor"
    too_long = "?since=2020-01-01T00:00:00Z&until=2026-01-01T00:00:00Z"
    resp = await env.client.get(f"/api/v1/visits/log{too_long}", headers=env.auth("auditor"))
    assert resp.status_code == 422
    assert (
        await env.client.get("/api/v1/visits/log", headers=env.auth("admin"))
    ).status_code == 403


async def test_contract_terms_are_a_managers_and_the_decision_follows(env: ApiEnv) -> None:
    resp = await env.client.post(
        "/api/v1/people",
        headers=env.auth("operator"),
        json={
            "kind": PersonKind.CONTRACTOR.value,
            "name": "Tanaka Kenji",
            "contract_end": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        },
    )
    assert resp.status_code == 201, resp.text
    pid = resp.json()["id"]
    end = datetime.now(UTC) + timedelta(days=3)
    terms = {
        "company": "Kanto Datacenter Services",
        "contract_end": end.isoformat(),
        "confidentiality_on_file": True,
        "confidentiality_date": "2026-04-01",
    }
    path = f"/api/v1/contractors/{pid}"
    assert (await env.client.put(path, headers=env.auth("operator"), json=terms)).status_code == 403
    no_date = {**terms, "confidentiality_date": None}
    assert (
        await env.client.put(path, headers=env.auth("manager"), json=no_date)
    ).status_code == 422
    resp = await env.client.put(path, headers=env.auth("manager"), json=terms)
    assert resp.status_code == 200, resp.text
    assert resp.json()["company"] == "Kanto Datacenter Services"
    assert resp.json()["findings"] == []
    resp = await env.client.get(path, headers=env.auth("auditor"))
    assert resp.status_code == 200 and resp.json()["contract_end"].startswith(
        end.date().isoformat()
    )
    person = await env.client.get(f"/api/v1/people/{pid}", headers=env.auth("auditor"))
    assert person.json()["organisation"] == "Kanto Datacenter Services"
    resp = await env.client.post(
        f"{path}/inspections",
        headers=env.auth("manager"),
        json={"date": datetime.now(UTC).date().isoformat(), "note": "on site"},
    )
    assert resp.status_code == 200 and resp.json()["last_inspection_note"] == "on site"
    staff = env.add_person("Not A Contractor")
    resp = await env.client.put(
        f"/api/v1/contractors/{staff}", headers=env.auth("manager"), json=terms
    )
    assert resp.status_code == 422
    resp = await env.client.get("/api/v1/contractors/findings", headers=env.auth("chief"))
    assert resp.status_code == 200
    assert (
        await env.client.get("/api/v1/contractors", headers=env.auth("admin"))
    ).status_code == 403
    kinds = [r.kind for r in env.records() if r.person_id == pid]
    assert "contractor.updated" in kinds and "contractor.inspected" in kinds
    resp = await env.client.post(
        f"/api/v1/people/{pid}/credentials",
        headers=env.auth("operator"),
        json={"card": "H10304:4000:123456"},
    )
    assert resp.status_code == 201
    entry = env.gateway.index.lookup("H10304:4000:123456")
    assert entry is not None and entry.contract_end is not None
    assert abs((entry.contract_end - end).total_seconds()) < 1  # what the decision reads
