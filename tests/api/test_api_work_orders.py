"""Work orders through the API (用件の確認, 4-8-7(1)); approvals by someone else (4-8-6(6)).

The desk or a manager requests; a manager of the zone who is neither the requester nor the
person approves or rejects; the requester or a manager of the zone cancels. An approved order
reaches the decision index; a cancelled one leaves it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from gateway.records import RecordKind
from tests.api.api_env import ApiEnv
from tests.api.rules_support import add_extra_accounts, call, changes

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def wenv(env: ApiEnv) -> AsyncIterator[ApiEnv]:
    """The module's ApiEnv with a second srv manager, a vault manager and a second operator."""
    await add_extra_accounts(env)
    yield env


def order_body(person: str, zone: str = "srv", hours: float = 4, **extra: Any) -> dict[str, Any]:
    """A work order from now for ``hours``."""
    start = datetime.now(UTC)
    return {
        "person_id": person,
        "zone_id": zone,
        "purpose": "replace failed disk in rack 3, ticket 4711",
        "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(hours=hours)).isoformat(),
        **extra,
    }


async def request(env: ApiEnv, who: str, person: str, **extra: Any) -> dict[str, Any]:
    """POST a work order as ``who``; returns the body (asserting 201)."""
    resp = await call(env, who, "POST", "/work-orders", order_body(person, **extra))
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def person_with_card(env: ApiEnv, name: str, card: str) -> str:
    """A person with a card (so that the decision index holds them); returns the id."""
    person = env.add_person(name)
    resp = await call(env, "operator", "POST", f"/people/{person}/credentials", {"card": card})
    assert resp.status_code == 201
    return person


async def test_requested_by_the_desk_approved_by_a_manager_reaches_the_index(
    wenv: ApiEnv,
) -> None:
    env = wenv
    person = await person_with_card(env, "Kenji Engineer", "H10301:41:4100")
    before = env.last_seq()
    order = await request(env, "operator", person)
    assert (order["status"], order["requested_by"], order["decided_by"]) == (
        "requested",
        "operator",
        None,
    )
    entry = env.gateway.index.lookup("H10301:41:4100")
    assert entry is not None
    assert entry.work_orders == ()  # requested is not approved
    resp = await call(
        env, "manager", "POST", f"/work-orders/{order['id']}/approve", {"note": "go ahead"}
    )
    assert resp.status_code == 200, resp.text
    approved = resp.json()
    assert (approved["status"], approved["decided_by"], approved["decision_note"]) == (
        "approved",
        "manager",
        "go ahead",
    )
    entry = env.gateway.index.lookup("H10301:41:4100")
    assert entry is not None
    [held] = entry.work_orders
    assert (held.work_order_id, held.zone_id, held.purpose) == (
        order["id"],
        "srv",
        "replace failed disk in rack 3, ticket 4711",
    )
    requested, decided = env.records(before, RecordKind.OPERATOR.value)
    assert (requested.actor, requested.detail["action"]) == ("operator", "work_order.request")
    assert (requested.person_id, requested.zone_id) == (person, "srv")
    assert changes(requested)["purpose"] == "replace failed disk in rack 3, ticket 4711"
    assert (decided.actor, decided.detail["action"]) == ("manager", "work_order.approve")
    assert changes(decided)["requested_by"] == "operator"
    got = await call(env, "auditor", "GET", f"/work-orders/{order['id']}")
    assert got.json() == approved


async def test_the_requester_cannot_approve_their_own_request(wenv: ApiEnv) -> None:
    env = wenv
    order = await request(env, "manager", env.add_person("Asked By Manager"))
    before = env.last_seq()
    for action in ("approve", "reject"):
        resp = await call(env, "manager", "POST", f"/work-orders/{order['id']}/{action}")
        assert resp.status_code == 403
        assert (
            resp.json()["detail"] == "Approvals name a person other than the requester (4-8-6(6))"
        )
    assert env.records(before, RecordKind.OPERATOR.value) == []
    resp = await call(env, "srv-manager-2", "POST", f"/work-orders/{order['id']}/approve")
    assert resp.status_code == 200
    assert resp.json()["decided_by"] == "srv-manager-2"


async def test_nobody_approves_a_work_order_for_themselves(wenv: ApiEnv) -> None:
    env = wenv
    order = await request(env, "operator", env.people["manager"])
    resp = await call(env, "manager", "POST", f"/work-orders/{order['id']}/approve")
    assert resp.status_code == 403
    assert resp.json()["detail"] == "Nobody may approve or reject their own work order (4-8-6(6))"


async def test_only_a_manager_of_the_zone_decides(wenv: ApiEnv) -> None:
    env = wenv
    order = await request(env, "operator", env.add_person("Srv Visitor"))
    resp = await call(env, "vault-manager", "POST", f"/work-orders/{order['id']}/approve")
    assert resp.status_code == 403
    assert resp.json()["detail"] == (
        "Only a manager of this zone may approve or reject its work orders"
    )
    for role in ("chief", "operator", "auditor", "admin"):
        resp = await call(env, role, "POST", f"/work-orders/{order['id']}/approve")
        assert resp.status_code == 403, role
    still = await call(env, "auditor", "GET", f"/work-orders/{order['id']}")
    assert still.json()["status"] == "requested"


async def test_a_decided_order_is_not_decided_again(wenv: ApiEnv) -> None:
    env = wenv
    order = await request(env, "operator", env.add_person("Twice Decided"))
    path = f"/work-orders/{order['id']}"
    resp = await call(env, "manager", "POST", f"{path}/reject", {"note": "not this week"})
    assert resp.status_code == 200
    assert resp.json()["status"] == "rejected"
    for action in ("approve", "reject"):
        resp = await call(env, "manager", "POST", f"{path}/{action}")
        assert resp.status_code == 409
        assert resp.json()["detail"] == "The work order is rejected, not requested"
    resp = await call(env, "operator", "POST", f"{path}/cancel")
    assert resp.status_code == 409
    resp = await call(env, "manager", "POST", f"/work-orders/{'0' * 32}/approve")
    assert resp.status_code == 404


async def test_cancel_by_the_requester_or_a_manager_of_the_zone(wenv: ApiEnv) -> None:
    env = wenv
    person = await person_with_card(env, "Cancel Me", "H10301:41:4200")
    requested = await request(env, "operator", person)
    resp = await call(env, "operator-2", "POST", f"/work-orders/{requested['id']}/cancel")
    assert resp.status_code == 403
    assert resp.json()["detail"] == (
        "Only the requester or a manager of this zone may cancel a work order"
    )
    resp = await call(env, "vault-manager", "POST", f"/work-orders/{requested['id']}/cancel")
    assert resp.status_code == 403
    resp = await call(env, "operator", "POST", f"/work-orders/{requested['id']}/cancel")
    assert resp.status_code == 200
    assert resp.json()["status"] == "cancelled"
    # an approved order, cancelled by a manager of the zone, leaves the decision index
    approved = await request(env, "operator", person)
    assert (await call(env, "manager", "POST", f"/work-orders/{approved['id']}/approve")).is_success
    entry = env.gateway.index.lookup("H10301:41:4200")
    assert entry is not None
    assert [w.work_order_id for w in entry.work_orders] == [approved["id"]]
    before = env.last_seq()
    resp = await call(
        env,
        "srv-manager-2",
        "POST",
        f"/work-orders/{approved['id']}/cancel",
        {"note": "done early"},
    )
    assert resp.status_code == 200
    entry = env.gateway.index.lookup("H10301:41:4200")
    assert entry is not None
    assert entry.work_orders == ()
    [rec] = env.records(before, RecordKind.OPERATOR.value)
    assert rec.detail["action"] == "work_order.cancel"
    assert rec.detail["changes"] == {
        "status": {"from": "approved", "to": "cancelled"},
        "note": "done early",
    }
    again = await call(env, "operator", "POST", f"/work-orders/{approved['id']}/cancel")
    assert again.status_code == 409


async def test_a_request_must_name_a_real_person_zone_and_window(wenv: ApiEnv) -> None:
    env = wenv
    person = env.add_person("Validated")
    now = datetime.now(UTC)
    bad = [
        order_body(person, zone="nowhere"),
        order_body("f" * 32),
        order_body(person, hours=-1),  # ends before it starts
        order_body(
            person,
            valid_from=(now - timedelta(hours=3)).isoformat(),
            valid_to=(now - timedelta(hours=1)).isoformat(),
        ),  # already over
        order_body(person, purpose="   "),
        order_body(person, purpose="x" * 501),
        order_body(person, reference="extra keys are refused"),
        {"person_id": person, "zone_id": "srv", "purpose": "no window"},
    ]
    before = env.last_seq()
    for body in bad:
        resp = await call(env, "operator", "POST", "/work-orders", body)
        assert resp.status_code == 422, body
    assert env.records(before, RecordKind.OPERATOR.value) == []
    for role in ("chief", "auditor", "admin"):
        resp = await call(env, role, "POST", "/work-orders", order_body(person))
        assert resp.status_code == 403, role


async def test_listing_filters_by_status_zone_and_person(wenv: ApiEnv) -> None:
    env = wenv
    person = env.add_person("Listed")
    first = await request(env, "operator", person)
    second = await request(env, "operator", person)
    await call(env, "manager", "POST", f"/work-orders/{second['id']}/approve")

    async def ids(**params: object) -> list[str]:
        resp = await call(env, "auditor", "GET", "/work-orders", person_id=person, **params)
        assert resp.status_code == 200, resp.text
        return [w["id"] for w in resp.json()["items"]]

    assert await ids() == [second["id"], first["id"]]  # newest request first
    assert await ids(status="approved") == [second["id"]]
    assert await ids(status="requested", zone_id="srv") == [first["id"]]
    assert await ids(zone_id="vault") == []
    resp = await call(env, "auditor", "GET", "/work-orders", status="maybe")
    assert resp.status_code == 422
    resp = await call(env, "admin", "GET", "/work-orders")
    assert resp.status_code == 403
