"""Zones, live doors and readers, desk unlock (4-8-7(2), 4-8-7(4)); accounts administration."""

from __future__ import annotations

import pytest

from gateway.records import RecordKind
from tests.api.api_env import PASSWORD, ApiEnv, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_zones_list_their_entrance_doors(env: ApiEnv) -> None:
    resp = await env.client.get("/api/v1/zones", headers=env.auth("admin"))
    assert resp.status_code == 200
    zones = {z["id"]: z for z in resp.json()}
    assert set(zones) == {"srv", "vault"}
    assert zones["vault"]["kind"] == "media_vault"
    assert [d["id"] for d in zones["srv"]["doors"]] == ["d-srv"]
    resp = await env.client.get("/api/v1/zones/vault", headers=env.auth("auditor"))
    assert resp.json()["doors"][0]["entry_reader"] == "r-vault-in"
    resp = await env.client.get("/api/v1/zones/attic", headers=env.auth("auditor"))
    assert resp.status_code == 404


async def test_site_layout_is_not_shown_without_a_token(env: ApiEnv) -> None:
    for path in ("/api/v1/zones", "/api/v1/doors", "/api/v1/readers", "/api/v1/zones/srv"):
        resp = await env.client.get(path)
        assert resp.status_code == 401
        assert "srv" not in resp.text
        assert "Server room" not in resp.text


async def test_doors_show_live_state(env: ApiEnv) -> None:
    resp = await env.client.get("/api/v1/doors", headers=env.auth("operator"))
    doors = {d["door_id"]: d for d in resp.json()}
    assert doors["d-srv"]["state"] in ("locked", "released")
    assert doors["d-srv"]["contact_open"] is False
    assert doors["d-vault"]["state"] == "fault"  # its module is not connected
    assert doors["d-vault"]["contact_open"] is None
    resp = await env.client.get("/api/v1/doors/d-vault", headers=env.auth("admin"))
    assert resp.json()["zone_id"] == "vault"
    resp = await env.client.get("/api/v1/doors/nope", headers=env.auth("admin"))
    assert resp.status_code == 404


async def test_readers_show_live_state(env: ApiEnv) -> None:
    resp = await env.client.get("/api/v1/readers", headers=env.auth("auditor"))
    readers = {r["reader_id"]: r for r in resp.json()}
    assert readers["r-srv-in"] == {
        "reader_id": "r-srv-in",
        "door_id": "d-srv",
        "online": False,
        "secure": False,
        "tamper": False,
    }


async def test_unlock_releases_the_strike_and_is_recorded_with_the_caller(env: ApiEnv) -> None:
    before = env.last_seq()
    resp = await env.client.post(
        "/api/v1/doors/d-srv/unlock",
        headers=env.auth("operator"),
        json={"note": "courier with a delivery"},
    )
    assert resp.status_code == 200, resp.text
    seq = resp.json()["seq"]
    [rec] = env.records(before, RecordKind.DOOR_UNLOCK.value)
    assert rec.seq == seq
    assert rec.actor == "operator"
    assert rec.door_id == "d-srv"
    assert rec.detail == {"note": "courier with a delivery"}
    # The real strike coil on the (simulated) module is energised.
    await wait_for(lambda: env.sim.door_view("d-srv").strike_released, what="strike released")


async def test_unlock_of_a_door_in_fault_is_409(env: ApiEnv) -> None:
    before = env.last_seq()
    resp = await env.client.post("/api/v1/doors/d-vault/unlock", headers=env.auth("chief"))
    assert resp.status_code == 409
    assert env.records(before, RecordKind.DOOR_UNLOCK.value) == []
    resp = await env.client.post("/api/v1/doors/nope/unlock", headers=env.auth("chief"))
    assert resp.status_code == 404


async def test_admin_creates_accounts_and_chief_only_reads_them(env: ApiEnv) -> None:
    before = env.last_seq()
    resp = await env.client.post(
        "/api/v1/accounts",
        headers=env.auth("admin"),
        json={
            "username": "vault.keeper",
            "password": "vault keeper passphrase",
            "role": "manager",
            "zones": ["vault"],
            "display_name": "Vault Keeper",
        },
    )
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["created_by"] == "admin"
    assert made["zones"] == ["vault"]
    assert "password" not in resp.text
    [rec] = env.records(before, RecordKind.OPERATOR.value)
    assert rec.detail["action"] == "account.create"
    assert "vault keeper passphrase" not in str(rec.detail)
    listed = await env.client.get("/api/v1/accounts", headers=env.auth("chief"))
    assert "vault.keeper" in [a["username"] for a in listed.json()]
    assert "$argon2" not in listed.text
    dup = await env.client.post(
        "/api/v1/accounts",
        headers=env.auth("admin"),
        json={"username": "vault.keeper", "password": PASSWORD, "role": "auditor"},
    )
    assert dup.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab", "password": PASSWORD, "role": "auditor"}, "username"),
        ({"username": "Has Space", "password": PASSWORD, "role": "auditor"}, "username"),
        ({"username": "shortpw", "password": "short", "role": "auditor"}, "password"),
        ({"username": "badrole", "password": PASSWORD, "role": "root"}, "role"),
        (
            {"username": "zoned", "password": PASSWORD, "role": "operator", "zones": ["srv"]},
            "zones",
        ),
        (
            {"username": "nozone", "password": PASSWORD, "role": "manager", "zones": ["attic"]},
            "zones",
        ),
        (
            {"username": "noperson", "password": PASSWORD, "role": "auditor", "person_id": "x1"},
            "person_id",
        ),
        ({"username": "extra", "password": PASSWORD, "role": "auditor", "admin": True}, "admin"),
    ],
)
async def test_bad_accounts_are_422_naming_the_field(
    env: ApiEnv, body: dict[str, object], field: str
) -> None:
    resp = await env.client.post("/api/v1/accounts", headers=env.auth("admin"), json=body)
    assert resp.status_code == 422, resp.text
    assert any(field in err["loc"] for err in resp.json()["detail"]), resp.text
    assert PASSWORD not in resp.text


async def test_an_account_cannot_disable_itself(env: ApiEnv) -> None:
    admin_id = env.accounts["admin"].id
    resp = await env.client.post(f"/api/v1/accounts/{admin_id}/disable", headers=env.auth("admin"))
    assert resp.status_code == 409
