"""Authorizations: granted by the zone's manager only, never to themselves (4-8-7(1), 4-8-6(6))."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.records import RecordKind
from tests.api.api_env import ApiEnv

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _grant(env: ApiEnv, who: str = "manager", **body: Any) -> Any:
    """POST an authorization as ``who``."""
    return await env.client.post("/api/v1/authorizations", headers=env.auth(who), json=body)


async def test_manager_grants_in_their_zone_and_it_is_recorded(env: ApiEnv) -> None:
    person = env.add_person("Grant Target")
    before = env.last_seq()
    resp = await _grant(
        env,
        person_id=person,
        zone_id="srv",
        schedule_id="office",
        valid_to="2099-12-31T00:00:00Z",
        purpose="rack maintenance, ticket 1234",
    )
    assert resp.status_code == 201, resp.text
    grant = resp.json()
    assert grant["granted_by"] == "manager"
    assert grant["schedule_id"] == "office"
    assert grant["active"] is True
    [rec] = env.records(before, RecordKind.OPERATOR.value)
    assert rec.actor == "manager"
    assert rec.person_id == person
    assert rec.zone_id == "srv"
    assert rec.detail["action"] == "authorization.grant"
    assert rec.detail["target"] == grant["id"]
    assert rec.detail["changes"]["purpose"] == "rack maintenance, ticket 1234"


async def test_a_grant_reaches_the_decision_index(env: ApiEnv) -> None:
    person = env.add_person("Indexed Person")
    resp = await env.client.post(
        f"/api/v1/people/{person}/credentials",
        headers=env.auth("operator"),
        json={"card": "H10301:60:6060"},
    )
    assert resp.status_code == 201
    entry = env.gateway.index.lookup("H10301:60:6060")
    assert entry is not None
    assert entry.authorizations == ()
    resp = await _grant(env, person_id=person, zone_id="srv")
    assert resp.status_code == 201
    entry = env.gateway.index.lookup("H10301:60:6060")
    assert entry is not None
    assert [a.zone_id for a in entry.authorizations] == ["srv"]
    revoke = await env.client.post(
        f"/api/v1/authorizations/{resp.json()['id']}/revoke", headers=env.auth("manager")
    )
    assert revoke.status_code == 200
    entry = env.gateway.index.lookup("H10301:60:6060")
    assert entry is not None
    assert entry.authorizations == ()


async def test_manager_cannot_grant_outside_their_zones(env: ApiEnv) -> None:
    person = env.add_person("Vault Hopeful")
    before = env.last_seq()
    resp = await _grant(env, person_id=person, zone_id="vault")
    assert resp.status_code == 403
    assert env.records(before, RecordKind.OPERATOR.value) == []


async def test_manager_cannot_grant_or_revoke_for_their_own_person(env: ApiEnv) -> None:
    own = env.people["manager"]
    resp = await _grant(env, person_id=own, zone_id="srv")
    assert resp.status_code == 403
    # A grant for the manager made by another manager of the zone cannot be revoked by them.
    env.add_account("manager2", "manager", zones=["srv", "vault"])
    token = await env.token_for("manager2")
    env.tokens["manager2"] = token
    resp = await _grant(env, "manager2", person_id=own, zone_id="srv")
    assert resp.status_code == 201
    resp = await env.client.post(
        f"/api/v1/authorizations/{resp.json()['id']}/revoke", headers=env.auth("manager")
    )
    assert resp.status_code == 403


@pytest.mark.parametrize("role", ["admin", "chief", "operator", "auditor"])
async def test_only_managers_grant(env: ApiEnv, role: str) -> None:
    person = env.add_person(f"Target of {role}")
    resp = await _grant(env, role, person_id=person, zone_id="srv")
    assert resp.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"zone_id": "nowhere"}, "zone_id"),
        ({"zone_id": "srv", "schedule_id": "never"}, "schedule_id"),
        ({"zone_id": "srv", "person_id": "0" * 32}, "person_id"),
        ({"zone_id": "Not An Id"}, "zone_id"),
        ({"zone_id": "srv", "valid_from": "2030-01-01T00:00:00Z", "valid_to": "2020-01-01"}, None),
        ({"zone_id": "srv", "granted_by": "someone-else"}, "granted_by"),
        ({"zone_id": "srv", "purpose": "x" * 501}, "purpose"),
    ],
)
async def test_bad_grants_are_422(env: ApiEnv, body: dict[str, Any], field: str | None) -> None:
    person = env.people.setdefault("grant-422", env.add_person("Bad Grant Target"))
    resp = await _grant(env, **{"person_id": person, **body})
    assert resp.status_code == 422, resp.text
    if field is not None:
        assert any(field in err["loc"] for err in resp.json()["detail"]), resp.text


async def test_revoke_records_who_and_twice_is_409(env: ApiEnv) -> None:
    person = env.add_person("Revoked Person")
    grant = (await _grant(env, person_id=person, zone_id="srv")).json()
    before = env.last_seq()
    resp = await env.client.post(
        f"/api/v1/authorizations/{grant['id']}/revoke",
        headers=env.auth("manager"),
        json={"reason": "left the project"},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["revoked_by"] == "manager"
    assert body["revoked_at"] is not None
    assert body["active"] is False
    [rec] = env.records(before, RecordKind.OPERATOR.value)
    assert rec.detail["action"] == "authorization.revoke"
    assert rec.detail["changes"] == {"reason": "left the project"}
    again = await env.client.post(
        f"/api/v1/authorizations/{grant['id']}/revoke", headers=env.auth("manager")
    )
    assert again.status_code == 409
    missing = await env.client.post(
        "/api/v1/authorizations/" + "f" * 32 + "/revoke", headers=env.auth("manager")
    )
    assert missing.status_code == 404


async def test_list_filters_by_person_zone_and_active(env: ApiEnv) -> None:
    person = env.add_person("Listed Person")
    current = (await _grant(env, person_id=person, zone_id="srv")).json()
    expired = (
        await _grant(
            env,
            person_id=person,
            zone_id="srv",
            valid_from="2020-01-01T00:00:00Z",
            valid_to="2021-01-01T00:00:00Z",
        )
    ).json()
    future = (await _grant(env, person_id=person, zone_id="srv", valid_from="2090-01-01")).json()
    revoked = (await _grant(env, person_id=person, zone_id="srv")).json()
    await env.client.post(
        f"/api/v1/authorizations/{revoked['id']}/revoke", headers=env.auth("manager")
    )
    headers = env.auth("auditor")
    resp = await env.client.get(
        "/api/v1/authorizations", headers=headers, params={"person_id": person}
    )
    assert resp.json()["total"] == 4
    resp = await env.client.get(
        "/api/v1/authorizations", headers=headers, params={"person_id": person, "active": True}
    )
    assert [a["id"] for a in resp.json()["items"]] == [current["id"]]
    resp = await env.client.get(
        "/api/v1/authorizations",
        headers=headers,
        params={"person_id": person, "active": False},
    )
    assert {a["id"] for a in resp.json()["items"]} == {expired["id"], future["id"], revoked["id"]}
    resp = await env.client.get(
        "/api/v1/authorizations", headers=headers, params={"person_id": person, "zone_id": "vault"}
    )
    assert resp.json()["total"] == 0
    resp = await env.client.get(f"/api/v1/authorizations/{current['id']}", headers=headers)
    assert resp.json()["active"] is True


async def test_admin_cannot_create_an_account_for_their_own_person(env: ApiEnv) -> None:
    # Separation of duties: the admin cannot give itself a manager's role (4-8-6(6)).
    resp = await env.client.post(
        "/api/v1/accounts",
        headers=env.auth("admin"),
        json={
            "username": "admin-as-manager",
            "password": "long enough password",
            "role": "manager",
            "zones": ["srv"],
            "person_id": env.people["admin"],
        },
    )
    assert resp.status_code == 403
