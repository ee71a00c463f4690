"""The auditor's API on a running gateway with a signed log (SQLite and PostgreSQL).

Checkpoint, proofs and exports are checked the way an auditor would: with the checkpoint key
alone, against the RFC 9162 verifiers, never against the server's own word (4-8-12(1)).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine, select
from sqlmodel import Session

from api.accounts import create_account
from api.app import create_app
from gateway.audit.checkpoint import open_checkpoint
from gateway.audit.export import verify_export
from gateway.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from gateway.audit.note import Signer
from gateway.audit.scheduler import AuditSchedule
from gateway.config.site import SiteConfig
from gateway.records import NewRecord, RecordKind
from gateway.runtime import Gateway
from gateway.storage.models import RECORD_TABLE
from gateway.storage.record_log import RecordLog
from tests.api.api_env import PASSWORD, SITE, make_settings
from tests.gateway.audit.audit_support import T0, policy, record

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROLES = ("chief", "auditor", "operator")
THRESHOLD = 150


@dataclass
class AuditEnv:
    """A gateway with a signed log, the API around it, and tokens."""

    client: httpx.AsyncClient
    gateway: Gateway
    log: RecordLog
    engine: Engine
    signer: Signer
    site: SiteConfig
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        """Authorization header of a role's account."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def count(self, upto: int, **where: str) -> int:
        """Records with seq <= ``upto`` whose columns equal ``where``."""
        t = RECORD_TABLE
        stmt = select(t.c.seq).where(t.c.site_id == self.site.site.id, t.c.seq <= upto)
        for name, value in where.items():
            stmt = stmt.where(t.c[name] == value)
        with self.engine.connect() as conn:
            return len(conn.execute(stmt).all())

    def kinds_since(self, seq: int) -> list[tuple[int, str, str | None]]:
        """(seq, kind, actor) of the records after ``seq``."""
        t = RECORD_TABLE
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.seq, t.c.kind, t.c.actor)
                .where(t.c.site_id == self.site.site.id, t.c.seq > seq)
                .order_by(t.c.seq)
            ).all()
        return [(int(r[0]), str(r[1]), r[2]) for r in rows]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def audit_env(api_engine: Engine) -> AsyncIterator[AuditEnv]:
    """300 access records signed every 100; accounts of three roles logged in."""
    site = SiteConfig.model_validate({**SITE, "audit": {"export_alert_rows": THRESHOLD}})
    signer = Signer.generate(site.audit.origin_for(site.site.id))
    log = RecordLog(api_engine, site.site.id, checkpoints=policy(signer, every=100))
    log.start()
    gateway = Gateway(site, api_engine, record_log=log)
    app = create_app(settings=make_settings(), engine=api_engine, core=gateway)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    env = AuditEnv(client, gateway, log, api_engine, signer, site)
    with Session(api_engine) as session:
        for role in ROLES:
            create_account(session, site.site.id, f"{role}-a", PASSWORD, role)
        session.commit()
    await gateway.start()
    try:
        for i in range(300):
            await gateway.record(record(i, zone_id="srv"))
        for role in ROLES:
            resp = await client.post(
                "/api/v1/auth/token", data={"username": f"{role}-a", "password": PASSWORD}
            )
            env.tokens[role] = resp.json()["access_token"]
        yield env
    finally:
        await client.aclose()
        await gateway.stop()
        log.close(timeout=30)


async def _checkpoint(env: AuditEnv) -> dict[str, Any]:
    """GET /audit/checkpoint as the auditor."""
    resp = await env.client.get("/api/v1/audit/checkpoint", headers=env.auth("auditor"))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_checkpoint_is_signed_by_the_pinned_key(audit_env: AuditEnv) -> None:
    """The note opens with the key the auditor pinned; fields agree with the note."""
    body = await _checkpoint(audit_env)
    opened = open_checkpoint(body["note"], [audit_env.signer.verifier()], "sekisho/hq")
    assert body["size"] == opened.size >= 300
    assert body["root"] == base64.b64encode(opened.root).decode()
    assert body["key"] == audit_env.signer.verifier().vkey
    assert body["origin"] == "sekisho/hq"


async def test_inclusion_proof_verifies_against_the_signed_root(audit_env: AuditEnv) -> None:
    """Record 42's proof, checked with the RFC 9162 verifier against the checkpoint's root."""
    body = await _checkpoint(audit_env)
    root = base64.b64decode(body["root"])
    resp = await audit_env.client.get(
        "/api/v1/audit/proof/inclusion",
        params={"seq": 42, "size": body["size"]},
        headers=audit_env.auth("auditor"),
    )
    assert resp.status_code == 200, resp.text
    proof = resp.json()
    leaf = leaf_hash(base64.b64decode(proof["commitment"]))
    assert base64.b64encode(leaf).decode() == proof["leaf_hash"]
    path = [base64.b64decode(p) for p in proof["proof"]]
    verify_inclusion(41, body["size"], leaf, path, root)
    assert proof["checkpoint"] == body["note"]
    for bad in ({"seq": 0}, {"seq": 5, "size": 10**9}, {"seq": 400, "size": 300}):
        resp = await audit_env.client.get(
            "/api/v1/audit/proof/inclusion", params=bad, headers=audit_env.auth("chief")
        )
        assert resp.status_code == 422, (bad, resp.text)


async def test_consistency_proof_links_an_old_checkpoint_to_the_new_one(
    audit_env: AuditEnv,
) -> None:
    """A client that kept the checkpoint at 100 checks the newest against it."""
    body = await _checkpoint(audit_env)
    resp = await audit_env.client.get(
        "/api/v1/audit/proof/consistency",
        params={"from": 100, "to": body["size"]},
        headers=audit_env.auth("auditor"),
    )
    assert resp.status_code == 200, resp.text
    proof = resp.json()
    assert (proof["from"], proof["to"]) == (100, body["size"])
    old = base64.b64decode(proof["from_root"])
    new = base64.b64decode(body["root"])
    verify_consistency(100, body["size"], old, new, [base64.b64decode(p) for p in proof["proof"]])
    resp = await audit_env.client.get(
        "/api/v1/audit/proof/consistency",
        params={"from": 200, "to": 100},
        headers=audit_env.auth("auditor"),
    )
    assert resp.status_code == 422


async def test_queries_by_person_door_kind_and_period(audit_env: AuditEnv) -> None:
    """Filters combine; pages follow before_seq; every kind is reachable."""
    resp = await audit_env.client.get(
        "/api/v1/audit/records",
        params={
            "person_id": "p1",
            "door_id": "d0",
            "kind": ["access.decision"],
            "since": (T0 + timedelta(minutes=10)).isoformat(),
            "until": (T0 + timedelta(minutes=70)).isoformat(),
            "limit": 5,
        },
        headers=audit_env.auth("auditor"),
    )
    assert resp.status_code == 200, resp.text
    page = resp.json()
    # i in [10, 70) with i % 3 == 1 and i % 2 == 0: 10, 16, ..., 64 -> 10 records, 5 per page
    assert [r["detail"]["n"] for r in page["items"]] == [64, 58, 52, 46, 40]
    assert page["next_before_seq"] == page["items"][-1]["seq"]
    resp = await audit_env.client.get(
        "/api/v1/audit/records",
        params={"kind": ["system"]},
        headers=audit_env.auth("chief"),
    )
    assert [r["kind"] for r in resp.json()["items"]] == ["system"]


async def test_a_query_above_the_threshold_raises_an_alert_once(audit_env: AuditEnv) -> None:
    """First page of a query matching > threshold records: an alert record naming the auditor;
    the next pages of the same query raise none."""
    before = audit_env.log.last_seq
    resp = await audit_env.client.get(
        "/api/v1/audit/records",
        params={"kind": ["access.decision"], "limit": 10},
        headers=audit_env.auth("auditor"),
    )
    assert resp.status_code == 200
    written = audit_env.kinds_since(before)
    assert written == [(before + 1, "audit.bulk_export_alert", "auditor-a")]
    resp = await audit_env.client.get(
        "/api/v1/audit/records",
        params={"kind": ["access.decision"], "limit": 10, "before_seq": 200},
        headers=audit_env.auth("auditor"),
    )
    small = await audit_env.client.get(
        "/api/v1/audit/records",
        params={"person_id": "p0", "door_id": "d1", "limit": 10},
        headers=audit_env.auth("auditor"),
    )
    assert resp.status_code == small.status_code == 200
    assert audit_env.kinds_since(before) == written


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_export_is_recorded_alerted_and_verifies_offline(
    audit_env: AuditEnv, fmt: str
) -> None:
    """A 300-row export: recorded, alerted (over 150), and verified with the key alone; one
    altered byte is found and its record named."""
    before = audit_env.log.last_seq
    resp = await audit_env.client.get(
        "/api/v1/audit/export",
        params={"format": fmt, "kind": ["access.decision"]},
        headers=audit_env.auth("auditor"),
    )
    assert resp.status_code == 200, resp.text
    written = audit_env.kinds_since(before)
    assert [k for _, k, _ in written] == ["audit.export", "audit.bulk_export_alert"]
    assert resp.headers["x-sekisho-export-record"] == str(written[0][0])
    report = verify_export(resp.content, [audit_env.signer.verifier()])
    assert report.ok, report.problems
    size = report.tree_size
    assert report.records == audit_env.count(size, kind="access.decision") >= 299
    assert report.key_pinned
    assert report.filters == {"kinds": ["access.decision"]}
    altered = resp.content.replace(b"Unauthorized", b"Granted", 1)
    bad = verify_export(altered, [audit_env.signer.verifier()])
    assert not bad.ok and bad.problems[0][0] == 2  # record 2 (i = 0; 1 is "start") was denied
    assert "altered" in bad.problems[0][1]
    foreign = verify_export(resp.content, [Signer.generate("sekisho/hq").verifier()])
    assert not foreign.ok and "checkpoint" in foreign.problems[0][1]


async def test_a_small_export_of_one_door_is_recorded_without_alert(audit_env: AuditEnv) -> None:
    """Scattered records (one person at one door): the multi-leaf proof still verifies."""
    before = audit_env.log.last_seq
    resp = await audit_env.client.get(
        "/api/v1/audit/export",
        params={"person_id": "p2", "door_id": "d1"},
        headers=audit_env.auth("chief"),
    )
    assert resp.status_code == 200, resp.text
    assert [k for _, k, _ in audit_env.kinds_since(before)] == ["audit.export"]
    doc = json.loads(resp.content)
    assert doc["count"] == audit_env.count(doc["tree_size"], person_id="p2", door_id="d1") >= 49
    assert len(doc["proof"]["nodes"]) > 0
    assert verify_export(resp.content, [audit_env.signer.verifier()]).ok
    resp = await audit_env.client.get("/api/v1/audit/export", headers=audit_env.auth("operator"))
    assert resp.status_code == 403


async def test_analysis_reports_are_served(audit_env: AuditEnv) -> None:
    """A daily report made by the gateway's schedule is listed and served with its findings."""
    clock = lambda: datetime(2026, 11, 3, 3, 0, tzinfo=UTC)  # noqa: E731  (a fixed clock)
    schedule = AuditSchedule(
        audit_env.site.model_copy(
            update={
                "audit": audit_env.site.audit.model_copy(
                    update={
                        "analysis": audit_env.site.audit.analysis.model_copy(
                            update={"periods": ["daily"]}
                        )
                    }
                )
            }
        ),
        audit_env.engine,
        audit_env.gateway.record,
        clock=clock,
    )
    [seq] = await schedule.run_analyses()
    assert await schedule.run_analyses() == []  # written once per period
    resp = await audit_env.client.get(
        "/api/v1/audit/analysis", params={"period": "daily"}, headers=audit_env.auth("auditor")
    )
    assert resp.status_code == 200, resp.text
    assert [r["seq"] for r in resp.json()["items"]] == [seq]
    resp = await audit_env.client.get(
        f"/api/v1/audit/analysis/{seq}", headers=audit_env.auth("chief")
    )
    report = resp.json()
    assert report["period"] == "daily" and report["start"] == "2026-11-01T15:00:00.000000Z"
    # 2026-11-02 in Tokyo: records 0..299 are 09:00-13:59 local on a Monday: in hours
    denials = report["findings"]["denials"]
    assert denials["count"] == 60 and denials["by_reason"]["Unauthorized"]["count"] == 60
    assert report["findings"]["after_hours_entries"]["count"] == 0
    resp = await audit_env.client.get("/api/v1/audit/analysis/1", headers=audit_env.auth("chief"))
    assert resp.status_code == 404


async def test_records_cannot_be_written_through_the_audit_api(audit_env: AuditEnv) -> None:
    """Every audit route is GET only (4-8-6(4))."""
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        resp = await audit_env.client.request(
            method, "/api/v1/audit/records", headers=audit_env.auth("chief")
        )
        assert resp.status_code == 405
    _ = NewRecord(RecordKind.SYSTEM, datetime.now(UTC))
