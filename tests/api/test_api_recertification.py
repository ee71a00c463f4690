"""Recertification through the API (4-8-7(3) periodic review; 4-8-6(6) separation of duties).

srv recertifies every 90 days (tests/api/api_env.py SITE); vault does not. Only a manager of
the zone recertifies, never for their own person, never the admin; the due list is per
manager, the chief and the auditor see every zone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from gateway.records import RecordKind
from tests.api.api_env import ApiEnv
from tests.api.rules_support import add_extra_accounts, call, changes, store_authorization

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def renv(env: ApiEnv) -> AsyncIterator[ApiEnv]:
    """The module's ApiEnv with a second srv manager, a vault manager and a second operator."""
    await add_extra_accounts(env)
    yield env


def _at(text: str) -> datetime:
    """A datetime from the API's ISO 8601 text."""
    return datetime.fromisoformat(text)


async def test_a_lapsed_authorization_is_shown_and_recertifying_restores_it(renv: ApiEnv) -> None:
    env = renv
    person = env.add_person("Rita Recert")
    resp = await call(
        env, "operator", "POST", f"/people/{person}/credentials", {"card": "H10301:31:3100"}
    )
    assert resp.status_code == 201
    granted = datetime.now(UTC) - timedelta(days=100)
    auth = store_authorization(env, person, "srv", granted)
    await env.gateway.reload_person(person)
    shown = (await call(env, "auditor", "GET", f"/authorizations/{auth}")).json()
    assert shown["lapsed"] is True
    assert _at(shown["recertify_due_at"]) == granted + timedelta(days=90)
    before = env.last_seq()
    resp = await call(
        env, "manager", "POST", f"/authorizations/{auth}/recertify", {"note": "still on call"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["recertified_by"] == "manager"
    assert body["lapsed"] is False
    recertified = _at(body["recertified_at"])
    assert abs(recertified - datetime.now(UTC)) < timedelta(minutes=5)
    assert _at(body["recertify_due_at"]) == recertified + timedelta(days=90)
    [rec] = env.records(before, RecordKind.OPERATOR.value)
    assert (rec.actor, rec.person_id, rec.zone_id) == ("manager", person, "srv")
    assert rec.detail["action"] == "authorization.recertify"
    assert rec.detail["target"] == auth
    changed = changes(rec)
    assert changed["was_lapsed"] is True
    assert changed["note"] == "still on call"
    assert _at(changed["was_due"]) == granted + timedelta(days=90)
    # the decision index sees the new certification at once
    entry = env.gateway.index.lookup("H10301:31:3100")
    assert entry is not None
    [held] = entry.authorizations
    assert held.certified_at == recertified


async def test_nobody_recertifies_their_own_access(renv: ApiEnv) -> None:
    env = renv
    own = env.people["manager"]
    granted = await call(
        env, "srv-manager-2", "POST", "/authorizations", {"person_id": own, "zone_id": "srv"}
    )
    assert granted.status_code == 201, granted.text
    auth = granted.json()["id"]
    before = env.last_seq()
    resp = await call(env, "manager", "POST", f"/authorizations/{auth}/recertify")
    assert resp.status_code == 403
    assert resp.json()["detail"] == "Nobody may recertify their own access (4-8-6(6))"
    assert env.records(before, RecordKind.OPERATOR.value) == []
    resp = await call(env, "srv-manager-2", "POST", f"/authorizations/{auth}/recertify")
    assert resp.status_code == 200
    assert resp.json()["recertified_by"] == "srv-manager-2"


async def test_only_a_manager_of_the_zone_recertifies(renv: ApiEnv) -> None:
    env = renv
    person = env.add_person("Zone Bound")
    auth = store_authorization(env, person, "srv", datetime.now(UTC) - timedelta(days=10))
    resp = await call(env, "vault-manager", "POST", f"/authorizations/{auth}/recertify")
    assert resp.status_code == 403
    assert resp.json()["detail"] == "Only a manager of this zone may recertify access to it"
    for role in ("chief", "operator", "auditor", "admin"):
        resp = await call(env, role, "POST", f"/authorizations/{auth}/recertify")
        assert resp.status_code == 403, role
        assert resp.json()["detail"] == "Not permitted for this role"


async def test_recertification_conflicts_and_unknowns(renv: ApiEnv) -> None:
    env = renv
    person = env.add_person("Conflicted")
    # vault has no recertify_days: there is nothing to recertify
    vault = await call(
        env, "vault-manager", "POST", "/authorizations", {"person_id": person, "zone_id": "vault"}
    )
    assert vault.status_code == 201
    assert vault.json()["recertify_due_at"] is None
    resp = await call(
        env, "vault-manager", "POST", f"/authorizations/{vault.json()['id']}/recertify"
    )
    assert resp.status_code == 409
    assert "does not require recertification" in resp.json()["detail"]
    revoked = (
        await call(
            env, "manager", "POST", "/authorizations", {"person_id": person, "zone_id": "srv"}
        )
    ).json()["id"]
    assert (await call(env, "manager", "POST", f"/authorizations/{revoked}/revoke")).is_success
    resp = await call(env, "manager", "POST", f"/authorizations/{revoked}/recertify")
    assert resp.status_code == 409
    assert resp.json()["detail"] == "The authorization is revoked; grant a new one"
    ended = store_authorization(
        env,
        person,
        "srv",
        datetime.now(UTC) - timedelta(days=30),
        valid_to=datetime.now(UTC) - timedelta(days=1),
    )
    resp = await call(env, "manager", "POST", f"/authorizations/{ended}/recertify")
    assert resp.status_code == 409
    assert "expired" in resp.json()["detail"]
    resp = await call(env, "manager", "POST", f"/authorizations/{'0' * 32}/recertify")
    assert resp.status_code == 404
    resp = await call(env, "manager", "POST", "/authorizations/bad!id/recertify")
    assert resp.status_code == 422
    resp = await call(
        env, "manager", "POST", f"/authorizations/{ended}/recertify", {"note": 1, "x": 2}
    )
    assert resp.status_code == 422


async def test_the_due_list_is_per_manager_and_earliest_first(renv: ApiEnv) -> None:
    env = renv
    now = datetime.now(UTC)
    person = env.add_person("Due Soon")
    lapsed = store_authorization(env, person, "srv", now - timedelta(days=100))
    soon = store_authorization(env, person, "srv", now - timedelta(days=70))  # due in 20 days
    later = store_authorization(env, person, "srv", now - timedelta(days=10))  # due in 80 days
    revoked = store_authorization(
        env, person, "srv", now - timedelta(days=95), revoked_at=now, revoked_by="manager"
    )
    ended = store_authorization(
        env, person, "srv", now - timedelta(days=95), valid_to=now - timedelta(hours=1)
    )
    ours = {lapsed, soon, later, revoked, ended}

    async def due(who: str, **params: object) -> list[dict[str, object]]:
        resp = await call(env, who, "GET", "/recertifications/due", **params)
        assert resp.status_code == 200, resp.text
        items: list[dict[str, object]] = resp.json()["items"]
        assert resp.json()["total"] >= len(items)
        return [i for i in items if i["authorization_id"] in ours]

    listed = await due("manager")
    assert [i["authorization_id"] for i in listed] == [lapsed, soon]
    assert [i["lapsed"] for i in listed] == [True, False]
    assert listed[0]["person_name"] == "Due Soon"
    assert listed[0]["person_kind"] == "staff"
    assert listed[0]["zone_id"] == "srv"
    assert [i["authorization_id"] for i in await due("manager", within_days=85)] == [
        lapsed,
        soon,
        later,
    ]
    assert [i["authorization_id"] for i in await due("manager", within_days=0)] == [lapsed]
    assert await due("vault-manager") == []  # not their zone
    for who in ("chief", "auditor"):  # every zone
        assert [i["authorization_id"] for i in await due(who)] == [lapsed, soon]
        assert [i["authorization_id"] for i in await due(who, zone_id="srv")] == [lapsed, soon]


async def test_the_due_list_refuses_what_it_cannot_answer(renv: ApiEnv) -> None:
    env = renv
    path = "/recertifications/due"
    resp = await call(env, "manager", "GET", path, zone_id="vault")
    assert resp.status_code == 403
    assert resp.json()["detail"] == "A manager sees what falls due in their own zones only"
    for params in ({"zone_id": "nowhere"}, {"within_days": -1}, {"within_days": 4000}):
        resp = await call(env, "chief", "GET", path, **params)
        assert resp.status_code == 422, params
    for role in ("operator", "admin"):
        resp = await call(env, role, "GET", path)
        assert resp.status_code == 403, role


async def test_authorizations_show_the_supervisor_flag_and_reach_the_index(renv: ApiEnv) -> None:
    env = renv
    person = env.add_person("Sam Supervisor")
    resp = await call(
        env, "operator", "POST", f"/people/{person}/credentials", {"card": "H10301:31:3200"}
    )
    assert resp.status_code == 201
    resp = await call(
        env,
        "manager",
        "POST",
        "/authorizations",
        {"person_id": person, "zone_id": "srv", "supervisor": True},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["supervisor"] is True
    assert resp.json()["lapsed"] is False
    entry = env.gateway.index.lookup("H10301:31:3200")
    assert entry is not None
    assert [a.supervisor for a in entry.authorizations] == [True]
    listed = await call(env, "auditor", "GET", "/authorizations", person_id=person)
    assert [a["supervisor"] for a in listed.json()["items"]] == [True]
    resp = await call(
        env,
        "manager",
        "POST",
        "/authorizations",
        {"person_id": person, "zone_id": "srv", "supervisor": "yes please"},
    )
    assert resp.status_code == 422
