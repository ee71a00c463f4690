"""Media custody over HTTP (4-8-5, 4-8-7(1), 4-8-12(2)): roles, refusals, exports, files.

Registry, requests decided by the zone's manager, inspections at the desk, the ledger as JSON
and as a recorded CSV export, disposal with the contractor's certificate (its hash on record),
and an inventory; the admin has no access, the auditor reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.api_env import ApiEnv

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def new_item(env: ApiEnv, tag: str, **extra: Any) -> dict[str, Any]:
    """Register an encrypted disk at home in the server room (asserting 201)."""
    body = {
        "kind": "hdd",
        "tag": tag,
        "classification": "confidential",
        "encrypted": True,
        "home_zone": "srv",
        "home_location": "rack 4, slot 2 spare",
        **extra,
    }
    resp = await env.client.post("/api/v1/media/items", headers=env.auth("operator"), json=body)
    assert resp.status_code == 201, resp.text
    item: dict[str, Any] = resp.json()
    return item


async def test_registry_requests_inspection_and_the_ledger(env: ApiEnv) -> None:
    carrier = env.add_person("Sato Hanako")
    after = env.last_seq()
    item = await new_item(env, "API-D-1", serial="WD-XYZ-1")
    assert (item["state"], item["zone_id"]) == ("home", "srv")
    again = {"kind": "hdd", "tag": "API-D-1", "classification": "internal", "encrypted": True}
    resp = await env.client.post("/api/v1/media/items", headers=env.auth("operator"), json=again)
    assert resp.status_code == 409
    for who in ("admin", "auditor", "chief"):
        resp = await env.client.post("/api/v1/media/items", headers=env.auth(who), json=again)
        assert resp.status_code == 403, who
    plan = {
        "item_id": item["id"],
        "direction": "out",
        "person_id": carrier,
        "purpose": "vendor diagnosis",
        "destination": "vendor lab, Kawasaki",
        "return_by": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
    }
    resp = await env.client.post("/api/v1/media/requests", headers=env.auth("operator"), json=plan)
    assert resp.status_code == 201, resp.text
    req = resp.json()
    path = f"/api/v1/media/requests/{req['id']}"
    assert (
        await env.client.post(f"{path}/approve", headers=env.auth("operator"))
    ).status_code == 403
    resp = await env.client.post(
        f"{path}/approve", headers=env.auth("manager"), json={"note": "ok"}
    )
    assert resp.status_code == 200 and resp.json()["status"] == "approved", resp.text
    inspection = {
        "tag": "WD-XYZ-1",  # the serial, as read off the disk
        "direction": "out",
        "zone_id": "srv",
        "person_id": carrier,
        "result": "pass",
        "door_id": "d-srv",
        "notes": "sealed bag no. 118",
    }
    resp = await env.client.post(
        "/api/v1/media/inspections", headers=env.auth("manager"), json=inspection
    )
    assert resp.status_code == 403  # the desk inspects
    resp = await env.client.post(
        "/api/v1/media/inspections", headers=env.auth("operator"), json=inspection
    )
    assert resp.status_code == 201, resp.text
    assert (resp.json()["outcome"], resp.json()["request_id"]) == ("completed", req["id"])
    resp = await env.client.get(f"/api/v1/media/items/{item['id']}", headers=env.auth("auditor"))
    assert (resp.json()["state"], resp.json()["holder_id"]) == ("out", carrier)
    resp = await env.client.get(
        f"/api/v1/media/items/{item['id']}/ledger", headers=env.auth("auditor")
    )
    assert [m["movement"] for m in resp.json()["items"]] == ["registered", "carried_out"]
    # The ledger exported as CSV, recorded as an operator action.
    mark = env.last_seq()
    resp = await env.client.get(
        f"/api/v1/media/ledger?format=csv&item_id={item['id']}", headers=env.auth("auditor")
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text.lstrip("\ufeff"))))
    assert [(r["tag"], r["movement"]) for r in rows] == [
        ("API-D-1", "registered"),
        ("API-D-1", "carried_out"),
    ]
    assert rows[1]["location_to"] == "out: vendor lab, Kawasaki"
    exported = [r for r in env.records(mark) if r.kind == "operator.action"]
    assert [r.detail["action"] for r in exported] == ["media.ledger_export"]
    kinds = [r.kind for r in env.records(after) if r.kind.startswith("media.")]
    assert kinds == [
        "media.registered",
        "media.requested",
        "media.approved",
        "media.inspected",
        "media.moved",
    ]
    assert (
        await env.client.get("/api/v1/media/ledger", headers=env.auth("admin"))
    ).status_code == 403


async def test_unapproved_and_bad_inspections(env: ApiEnv) -> None:
    carrier = env.add_person("Suzuki Ichiro")
    await new_item(env, "API-D-2")
    body = {
        "tag": "API-D-2",
        "direction": "out",
        "zone_id": "srv",
        "person_id": carrier,
        "result": "pass",
    }
    resp = await env.client.post(
        "/api/v1/media/inspections", headers=env.auth("operator"), json=body
    )
    assert resp.status_code == 201
    assert (resp.json()["outcome"], resp.json()["refusal"]) == ("refused", "no_approved_request")
    unapproved = env.records(kind="media.unapproved")
    assert unapproved and unapproved[-1].detail["tag"] == "API-D-2"
    for bad in (
        {**body, "direction": "sideways"},
        {**body, "tag": "tab\there"},
        {**body, "zone_id": "nowhere"},
        {**body, "door_id": "d-vault"},  # not a door of srv
        {**body, "result": "maybe"},
    ):
        resp = await env.client.post(
            "/api/v1/media/inspections", headers=env.auth("operator"), json=bad
        )
        assert resp.status_code == 422, bad


async def test_disposal_with_a_certificate_file(env: ApiEnv) -> None:
    item = await new_item(env, "API-D-3")
    witness = env.add_person("Kobayashi Yuki")
    pdf = b"%PDF-1.7\ncertificate of destruction API-D-3 with photographs\n"
    form = {
        "method": "crushing",
        "performed_by": "Tokyo Secure Disposal K.K.",
        "disposed_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "witness_id": witness,
    }
    path = f"/api/v1/media/items/{item['id']}/disposal"
    files = {"certificate": ("cert.pdf", pdf, "application/pdf")}
    resp = await env.client.post(path, headers=env.auth("auditor"), data=form, files=files)
    assert resp.status_code == 403
    no_evidence = {k: v for k, v in form.items() if k != "witness_id"}
    resp = await env.client.post(path, headers=env.auth("operator"), data=no_evidence)
    assert resp.status_code == 422  # no witness, no photo, no certificate (4-8-5(8))
    assert resp.json()["detail"][0]["loc"] == ["body", "witness_id"]
    resp = await env.client.post(path, headers=env.auth("operator"), data=form, files=files)
    assert resp.status_code == 201, resp.text
    assert resp.json()["certificate_sha256"] == hashlib.sha256(pdf).hexdigest()
    resp = await env.client.get(f"{path}/certificate", headers=env.auth("auditor"))
    assert resp.status_code == 200 and resp.content == pdf
    assert resp.headers["x-content-sha256"] == hashlib.sha256(pdf).hexdigest()
    resp = await env.client.get(path, headers=env.auth("chief"))
    assert resp.json()["witness_id"] == witness and resp.json()["method"] == "crushing"
    resp = await env.client.post(path, headers=env.auth("operator"), data=form, files=files)
    assert resp.status_code == 409
    disposed = env.records(kind="media.disposed")[-1]
    assert disposed.detail["certificate_sha256"] == hashlib.sha256(pdf).hexdigest()


async def test_an_inventory_over_the_api(env: ApiEnv) -> None:
    present = await new_item(env, "INV-1")
    await new_item(env, "INV-2")
    resp = await env.client.post(
        "/api/v1/media/inventories", headers=env.auth("auditor"), json={"zone_id": "srv"}
    )
    assert resp.status_code == 403
    resp = await env.client.post(
        "/api/v1/media/inventories", headers=env.auth("manager"), json={"zone_id": "srv"}
    )
    assert resp.status_code == 201, resp.text
    run = resp.json()
    path = f"/api/v1/media/inventories/{run['id']}"
    for tag in ("INV-1", "STRAY-9"):
        resp = await env.client.post(
            f"{path}/scans", headers=env.auth("operator"), json={"tag": tag}
        )
        assert resp.status_code == 201
    resp = await env.client.post(f"{path}/complete", headers=env.auth("operator"))
    assert resp.status_code == 200, resp.text
    findings = {(f["finding"], f["tag"]) for f in resp.json()["findings"]["items"]}
    assert ("missing", "INV-2") in findings and ("unexpected", "STRAY-9") in findings
    assert ("missing", "INV-1") not in findings
    resp = await env.client.get(path, headers=env.auth("auditor"))
    assert [s["item_id"] for s in resp.json()["scans"] if s["tag"] == "INV-1"] == [present["id"]]
    resp = await env.client.post(f"{path}/scans", headers=env.auth("operator"), json={"tag": "X"})
    assert resp.status_code == 409
