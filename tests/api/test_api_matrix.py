"""Every route x every role (+ no token, expired token, disabled account) against the table.

Allowed roles must get past authorization (not 401/403; 404/409/422 are fine), denied roles
get 403, callers without a valid token 401 (4-8-2 roles, 4-8-6(6) separation of duties).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session

from api.app import PUBLIC_PATHS, api_routes
from api.roles import PERMISSIONS, Permission, Role
from api.security import issue_token
from gateway.clock import utcnow
from gateway.custody import Actor
from gateway.domain import Direction, PersonKind
from gateway.media.door import Inspection, RequestPlan
from gateway.media.model import Classification, MediaKind
from gateway.media.registry import NewItem
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import Account
from gateway.visits.model import NewVisitor, VisitPlan
from tests.api.api_env import PASSWORD, ROLES, ApiEnv, LiveServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

_counter = itertools.count(1)


@dataclass(frozen=True)
class Targets:
    """Objects the routes act on, made once per module."""

    person: str
    credential: str
    authorization: str
    account: str
    alarm: str = ""
    incident: str = ""
    visit: str = ""  # issue 5: a visit to srv registered at the desk
    contractor: str = ""  # issue 5: a contractor
    media_item: str = ""  # issue 5: a USB stick at home in srv
    media_request: str = ""  # issue 5: a carry-out of it, requested at the desk
    inspection: str = ""  # issue 5: an inspection by another desk account
    inventory: str = ""  # issue 5: an open inventory of the vault
    work_order: str = ""  # issue 3: requested by the operator, in srv


Body = Callable[[Targets], dict[str, Any] | None]


@dataclass(frozen=True)
class Call:
    """One route: how to call it, and the permission the table says it needs."""

    method: str
    path: str
    permission: Permission
    body: Body = lambda t: None


def _new_card(_: Targets) -> dict[str, Any]:
    """A body for a card no one holds yet."""
    return {"format": "H10301", "facility": 77, "number": next(_counter)}


def _new_work_order(t: Targets) -> dict[str, Any]:
    """A body for a work order for the target person in srv, from now for an hour."""
    return _new_work_order_for(t.person)


def _new_work_order_for(person: str) -> dict[str, Any]:
    """A body for a work order for ``person`` in srv, from now for an hour."""
    start = datetime.now(UTC)
    return {
        "person_id": person,
        "zone_id": "srv",
        "purpose": "matrix",
        "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(hours=1)).isoformat(),
    }


def _window(hours: float) -> tuple[str, str]:
    """From now for ``hours``, as ISO 8601 UTC."""
    start = datetime.now(UTC)
    return start.isoformat(), (start + timedelta(hours=hours)).isoformat()


def _new_visit(t: Targets) -> dict[str, Any]:
    """A body for a visit to srv hosted by the target person."""
    start, end = _window(1)
    return {
        "visitor": {"name": f"Matrix Visitor {next(_counter)}"},
        "host_id": t.person,
        "purpose": "matrix",
        "zones": ["srv"],
        "valid_from": start,
        "valid_to": end,
    }


def _check_in(t: Targets) -> dict[str, Any]:
    """A body for a check-in escorted by the target person."""
    return {
        "id_document_type": "passport",
        "id_document_last": "12",
        "card": f"H10301:78:{next(_counter)}",
        "escort_id": t.person,
    }


def _new_media_item(_: Targets) -> dict[str, Any]:
    """A body for an item no one registered yet."""
    return {
        "kind": "usb_memory",
        "tag": f"MATRIX-{next(_counter)}",
        "classification": "internal",
        "encrypted": True,
        "home_zone": "srv",
    }


def _new_media_request(t: Targets) -> dict[str, Any]:
    """A body for a carry-out of the target item by the target person."""
    return {
        "item_id": t.media_item,
        "direction": "out",
        "person_id": t.person,
        "purpose": "matrix",
        "destination": "matrix",
        "return_by": _window(24)[1],
    }


def _new_account(_: Targets) -> dict[str, Any]:
    """A body for an account that does not exist yet."""
    return {"username": f"made-{next(_counter)}", "password": PASSWORD, "role": "auditor"}


P = Permission
CALLS = [
    Call("POST", "/api/v1/auth/refresh", P.AUTH_SESSION),
    Call("GET", "/api/v1/auth/me", P.AUTH_SESSION),
    Call("GET", "/api/v1/accounts", P.ACCOUNTS_READ),
    Call("POST", "/api/v1/accounts", P.ACCOUNTS_WRITE, _new_account),
    Call("POST", "/api/v1/accounts/{account}/disable", P.ACCOUNTS_WRITE),
    Call("POST", "/api/v1/accounts/{account}/enable", P.ACCOUNTS_WRITE),
    Call(
        "POST",
        "/api/v1/accounts/{account}/password",
        P.ACCOUNTS_WRITE,
        lambda t: {"password": PASSWORD},
    ),
    Call("GET", "/api/v1/people", P.PEOPLE_READ),
    Call("POST", "/api/v1/people", P.PEOPLE_WRITE, lambda t: {"kind": "staff", "name": "New"}),
    Call("GET", "/api/v1/people/{person}", P.PEOPLE_READ),
    Call("PATCH", "/api/v1/people/{person}", P.PEOPLE_WRITE, lambda t: {"organisation": "IT"}),
    Call("GET", "/api/v1/people/{person}/credentials", P.PEOPLE_READ),
    Call("POST", "/api/v1/people/{person}/credentials", P.PEOPLE_WRITE, _new_card),
    Call("GET", "/api/v1/credentials/{credential}", P.PEOPLE_READ),
    Call(
        "PATCH",
        "/api/v1/credentials/{credential}",
        P.PEOPLE_WRITE,
        lambda t: {"valid_to": "2099-01-01T00:00:00Z"},
    ),
    Call("PUT", "/api/v1/credentials/{credential}/pin", P.PEOPLE_WRITE, lambda t: {"pin": "4821"}),
    Call("GET", "/api/v1/authorizations", P.AUTHORIZATIONS_READ),
    Call("GET", "/api/v1/authorizations/{authorization}", P.AUTHORIZATIONS_READ),
    Call(
        "POST",
        "/api/v1/authorizations",
        P.AUTHORIZATIONS_WRITE,
        lambda t: {"person_id": t.person, "zone_id": "srv", "purpose": "maintenance"},
    ),
    Call("POST", "/api/v1/authorizations/{authorization}/revoke", P.AUTHORIZATIONS_WRITE),
    Call("GET", "/api/v1/zones", P.ZONES_READ),
    Call("GET", "/api/v1/zones/srv", P.ZONES_READ),
    Call("GET", "/api/v1/doors", P.DOORS_READ),
    Call("GET", "/api/v1/doors/d-vault", P.DOORS_READ),
    Call("POST", "/api/v1/doors/d-vault/unlock", P.DOORS_UNLOCK, lambda t: {"note": "matrix"}),
    Call("GET", "/api/v1/readers", P.READERS_READ),
    Call("GET", "/api/v1/events", P.EVENTS_READ),
    # the auditor's API (issue 4; 4-8-12(1), 4-8-6(5))
    Call("GET", "/api/v1/audit/checkpoint", P.AUDIT_READ),
    Call("GET", "/api/v1/audit/proof/inclusion?seq=1&size=1", P.AUDIT_READ),
    Call("GET", "/api/v1/audit/proof/consistency?from=1&to=1", P.AUDIT_READ),
    Call("GET", "/api/v1/audit/records?kind=access.decision", P.AUDIT_READ),
    Call("GET", "/api/v1/audit/export?format=csv", P.AUDIT_EXPORT),
    Call("GET", "/api/v1/audit/analysis", P.AUDIT_READ),
    Call("GET", "/api/v1/audit/analysis/1", P.AUDIT_READ),
    Call("GET", "/api/v1/events/1", P.EVENTS_READ),
    Call("GET", "/api/v1/stream", P.DOORS_READ),
    Call("GET", "/api/v1/stats/entries-per-hour", P.EVENTS_READ),
    Call("GET", "/api/v1/stats/denials", P.EVENTS_READ),
    Call("GET", "/api/v1/stats/door-alarms", P.EVENTS_READ),
    Call("GET", "/api/v1/stats/alarms-by-type", P.EVENTS_READ),
    Call("GET", "/api/v1/ui/config", P.AUTH_SESSION),
    # issue 7: cameras and their pictures (no camera service here: 404 past the guard)
    Call("GET", "/api/v1/cameras", P.CAMERAS_READ),
    Call("GET", "/api/v1/cameras/sr-cam/snapshot", P.CAMERAS_VIEW),
    Call("GET", "/api/v1/evidence/1", P.CAMERAS_READ),
    Call("GET", "/api/v1/evidence/1/snapshot", P.CAMERAS_VIEW),
    Call("GET", "/api/v1/alarms", P.ALARMS_READ),
    Call("GET", "/api/v1/alarms/history", P.ALARMS_READ),
    Call("GET", "/api/v1/alarms/catalogue", P.ALARMS_READ),
    Call("GET", "/api/v1/alarms/{alarm}", P.ALARMS_READ),
    Call("POST", "/api/v1/alarms/{alarm}/acknowledge", P.ALARMS_ACK, lambda t: {"note": "m"}),
    Call("POST", "/api/v1/alarms/{alarm}/close", P.ALARMS_ACK),
    Call("GET", "/api/v1/incidents", P.INCIDENTS_READ),
    Call("GET", "/api/v1/incidents/{incident}", P.INCIDENTS_READ),
    Call(
        "POST", "/api/v1/incidents", P.INCIDENTS_WRITE, lambda t: {"title": "m", "zone_id": "srv"}
    ),
    Call(
        "POST",
        "/api/v1/incidents/{incident}/containment",
        P.INCIDENTS_WRITE,
        lambda t: {"action": "isolate", "text": "matrix"},
    ),
    Call("POST", "/api/v1/incidents/{incident}/notes", P.INCIDENTS_WRITE, lambda t: {"text": "m"}),
    Call("POST", "/api/v1/incidents/{incident}/personal-data", P.INCIDENTS_WRITE),
    Call(
        "POST",
        "/api/v1/incidents/{incident}/legal-steps/preliminary_report/done",
        P.INCIDENTS_WRITE,
    ),
    Call(
        "POST",
        "/api/v1/incidents/{incident}/close",
        P.INCIDENTS_CLOSE,
        lambda t: {"root_cause": "matrix", "measures": "matrix"},
    ),
    # issue 3: the server-room rules
    Call("GET", "/api/v1/zones/srv/occupancy", P.ZONES_OCCUPANCY),
    Call(
        "POST",
        "/api/v1/zones/srv/passback/forgive",
        P.ZONES_PASSBACK_FORGIVE,
        lambda t: {"person_id": t.person, "note": "matrix"},
    ),
    Call("POST", "/api/v1/zones/vault/lockdown", P.ZONES_LOCKDOWN, lambda t: {"reason": "m"}),
    Call(
        "POST", "/api/v1/zones/vault/lockdown/release", P.ZONES_LOCKDOWN, lambda t: {"reason": "m"}
    ),
    Call(
        "PUT",
        "/api/v1/doors/d-vault/mode",
        P.DOORS_MODE,
        lambda t: {"mode": "access", "reason": "matrix"},
    ),
    Call(
        "PUT",
        "/api/v1/credentials/{credential}/duress-pin",
        P.PEOPLE_WRITE,
        lambda t: {"duress_pin": "9173"},
    ),
    Call("POST", "/api/v1/authorizations/{authorization}/recertify", P.AUTHORIZATIONS_RECERTIFY),
    Call("GET", "/api/v1/recertifications/due", P.RECERTIFICATIONS_READ),
    Call("GET", "/api/v1/work-orders", P.WORK_ORDERS_READ),
    Call("GET", "/api/v1/work-orders/{work_order}", P.WORK_ORDERS_READ),
    Call("POST", "/api/v1/work-orders", P.WORK_ORDERS_REQUEST, _new_work_order),
    Call("POST", "/api/v1/work-orders/{work_order}/approve", P.WORK_ORDERS_DECIDE),
    Call("POST", "/api/v1/work-orders/{work_order}/reject", P.WORK_ORDERS_DECIDE),
    Call("POST", "/api/v1/work-orders/{work_order}/cancel", P.WORK_ORDERS_CANCEL),
    Call("GET", "/api/v1/people/{person}/training", P.PEOPLE_READ),
    Call(
        "POST",
        "/api/v1/people/{person}/training",
        P.TRAINING_WRITE,
        lambda t: {"course": "pi-handling", "completed_at": "2025-01-05T00:00:00Z"},
    ),
    # issue 5: visitors, contractors and media custody
    Call("GET", "/api/v1/visits", P.VISITS_READ),
    Call("POST", "/api/v1/visits", P.VISITS_REGISTER, _new_visit),
    Call("GET", "/api/v1/visits/log", P.VISITS_READ),
    Call("GET", "/api/v1/visits/{visit}", P.VISITS_READ),
    Call("POST", "/api/v1/visits/{visit}/approve", P.VISITS_APPROVE),
    Call("POST", "/api/v1/visits/{visit}/check-in", P.VISITS_DESK, _check_in),
    Call(
        "POST",
        "/api/v1/visits/{visit}/check-out",
        P.VISITS_DESK,
        lambda t: {"credential_returned": True},
    ),
    Call("POST", "/api/v1/visits/{visit}/reject", P.VISITS_APPROVE),
    Call("POST", "/api/v1/visits/{visit}/cancel", P.VISITS_REGISTER),
    Call("GET", "/api/v1/contractors", P.CONTRACTORS_READ),
    Call("GET", "/api/v1/contractors/findings", P.CONTRACTORS_READ),
    Call("GET", "/api/v1/contractors/{contractor}", P.CONTRACTORS_READ),
    Call(
        "PUT",
        "/api/v1/contractors/{contractor}",
        P.CONTRACTORS_WRITE,
        lambda t: {
            "company": "Matrix Co.",
            "contract_end": "2099-01-01T00:00:00Z",
            "confidentiality_on_file": False,
        },
    ),
    Call(
        "POST",
        "/api/v1/contractors/{contractor}/inspections",
        P.CONTRACTORS_WRITE,
        lambda t: {"date": "2026-01-05"},
    ),
    Call("GET", "/api/v1/media/items", P.MEDIA_READ),
    Call("POST", "/api/v1/media/items", P.MEDIA_REGISTER, _new_media_item),
    Call("GET", "/api/v1/media/overdue", P.MEDIA_READ),
    Call("GET", "/api/v1/media/items/{media_item}", P.MEDIA_READ),
    Call(
        "PATCH",
        "/api/v1/media/items/{media_item}",
        P.MEDIA_REGISTER,
        lambda t: {"description": "m"},
    ),
    Call("GET", "/api/v1/media/items/{media_item}/ledger", P.MEDIA_READ),
    Call("GET", "/api/v1/media/ledger", P.MEDIA_READ),
    Call("GET", "/api/v1/media/requests", P.MEDIA_READ),
    Call("POST", "/api/v1/media/requests", P.MEDIA_REGISTER, _new_media_request),
    Call("GET", "/api/v1/media/requests/{media_request}", P.MEDIA_READ),
    Call("POST", "/api/v1/media/requests/{media_request}/approve", P.MEDIA_APPROVE),
    Call("POST", "/api/v1/media/requests/{media_request}/reject", P.MEDIA_APPROVE),
    Call("POST", "/api/v1/media/requests/{media_request}/cancel", P.MEDIA_REGISTER),
    Call("GET", "/api/v1/media/inspections", P.MEDIA_READ),
    Call(
        "POST",
        "/api/v1/media/inspections",
        P.MEDIA_DESK,
        lambda t: {
            "tag": "MATRIX-NONE",
            "direction": "out",
            "zone_id": "srv",
            "person_id": t.person,
            "result": "pass",
        },
    ),
    Call("GET", "/api/v1/media/inspections/{inspection}", P.MEDIA_READ),
    Call(
        "POST",
        "/api/v1/media/inspections/{inspection}/confirm",
        P.MEDIA_DESK,
        lambda t: {"result": "pass"},
    ),
    Call("POST", "/api/v1/media/items/{media_item}/disposal", P.MEDIA_DISPOSE),
    Call("GET", "/api/v1/media/items/{media_item}/disposal", P.MEDIA_READ),
    Call("GET", "/api/v1/media/items/{media_item}/disposal/certificate", P.MEDIA_READ),
    Call("GET", "/api/v1/media/inventories", P.MEDIA_READ),
    Call("POST", "/api/v1/media/inventories", P.MEDIA_INVENTORY, lambda t: {"zone_id": "srv"}),
    Call("GET", "/api/v1/media/inventories/{inventory}", P.MEDIA_READ),
    Call(
        "POST",
        "/api/v1/media/inventories/{inventory}/scans",
        P.MEDIA_INVENTORY,
        lambda t: {"tag": "MATRIX-SCAN"},
    ),
    Call("POST", "/api/v1/media/inventories/{inventory}/complete", P.MEDIA_INVENTORY),
]

CALLERS = (*ROLES, "no token", "expired token", "disabled account")


def _template(path: str) -> str:
    """The route path a call's path belongs to (literal ids back to their parameters)."""
    for literal, param in (
        ("{account}", "{account_id}"),
        ("{person}", "{person_id}"),
        ("{credential}", "{credential_id}"),
        ("{authorization}", "{authorization_id}"),
        ("/zones/srv", "/zones/{zone_id}"),
        ("/zones/vault", "/zones/{zone_id}"),
        ("{work_order}", "{work_order_id}"),
        ("/doors/d-vault", "/doors/{door_id}"),
        ("/events/1", "/events/{seq}"),
        ("/audit/analysis/1", "/audit/analysis/{seq}"),
        ("/cameras/sr-cam/", "/cameras/{camera_id}/"),
        ("/evidence/1/snapshot", "/evidence/{seq}/{item}"),
        ("/evidence/1", "/evidence/{seq}"),
        ("{alarm}", "{alarm_id}"),
        ("{incident}", "{incident_id}"),
        ("{visit}", "{visit_id}"),
        ("{contractor}", "{person_id}"),
        ("{media_item}", "{item_id}"),
        ("{media_request}", "{request_id}"),
        ("{inspection}", "{inspection_id}"),
        ("{inventory}", "{inventory_id}"),
        ("/legal-steps/preliminary_report/", "/legal-steps/{step}/"),
    ):
        path = path.replace(literal, param)
    return path.split("?", 1)[0]  # audit routes take their arguments as queries


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix(env: ApiEnv) -> AsyncIterator[tuple[Targets, dict[str, dict[str, str]]]]:
    """The objects routes act on, and the headers of every kind of caller."""
    person = env.add_person("Matrix Person")
    resp = await env.client.post(
        f"/api/v1/people/{person}/credentials",
        headers=env.auth("operator"),
        json={"card": "H10301:99:1"},
    )
    credential = resp.json()["id"]
    resp = await env.client.post(
        "/api/v1/authorizations",
        headers=env.auth("manager"),
        json={"person_id": person, "zone_id": "srv"},
    )
    authorization = resp.json()["id"]
    victim = env.add_account("matrix-victim", "auditor")
    disabled = env.add_account("matrix-disabled", "operator")
    disabled_token = await env.token_for("matrix-disabled")
    with Session(env.engine) as session:
        row = session.get(Account, disabled.id)
        assert row is not None
        row.enabled = False
        session.add(row)
        session.commit()
    operator = env.accounts["operator"]
    expired = issue_token(
        key=env.settings.secret_key.get_secret_value(),
        account_id=operator.id,
        role=operator.role,
        password_hash=operator.password_hash,
        minutes=-1,
    ).token
    headers = {role: env.auth(role) for role in ROLES}
    headers["no token"] = {}
    headers["expired token"] = {"Authorization": f"Bearer {expired}"}
    headers["disabled account"] = {"Authorization": f"Bearer {disabled_token}"}
    # an alarm (an event alarm, raised by the record issue 4 writes) and an incident in srv
    await env.gateway.record(
        NewRecord(RecordKind.AUDIT_BULK_EXPORT_ALERT, utcnow(), actor="matrix-victim")
    )
    assert env.stack is not None
    alarm = next(a for a in env.stack.alarms.active() if a.type == "audit.bulk_export")
    incident = await env.stack.incidents.open("Matrix incident", "operator", zone_id="srv")
    # a work order the operator requested for the target person (the manager decides it)
    resp = await env.client.post(
        "/api/v1/work-orders", headers=env.auth("operator"), json=_new_work_order_for(person)
    )
    assert resp.status_code == 201, resp.text
    work_order = resp.json()["id"]
    # issue 5: a visit, a contractor, a media item with a carry-out request, an inspection by
    # another desk account, an open inventory of the vault
    assert env.custody is not None
    desk = Actor("matrix-desk", "operator")
    now = datetime.now(UTC)
    visit = await env.custody.visits.register(
        desk,
        VisitPlan(
            person, "matrix", ("srv",), now, now + timedelta(hours=1), NewVisitor("Matrix Visitor")
        ),
    )
    contractor = env.add_person("Matrix Contractor", PersonKind.CONTRACTOR)
    item = await env.custody.media.registry.register(
        desk,
        NewItem(
            MediaKind.USB_MEMORY, "MATRIX-ITEM", Classification.INTERNAL, True, home_zone="srv"
        ),
    )
    media_request = await env.custody.media.desk.request(
        desk, RequestPlan(item.id, Direction.OUT, person, "matrix", now + timedelta(days=1), "x")
    )
    inspection = await env.custody.media.desk.inspect(
        desk, Inspection("MATRIX-ITEM", Direction.OUT, "srv", person, passed=True)
    )
    inventory = await env.custody.media.inventory.start(desk, "vault")
    targets = Targets(
        person,
        credential,
        authorization,
        victim.id,
        alarm=alarm.alarm_id,
        incident=incident.incident_id,
        visit=visit.id,
        contractor=contractor,
        media_item=item.id,
        media_request=media_request.id,
        inspection=inspection.id,
        inventory=inventory.id,
        work_order=work_order,
    )
    yield targets, headers


async def test_the_matrix_covers_every_guarded_route(env: ApiEnv) -> None:
    declared = {
        (method, route.path)
        for route in api_routes(env.app)
        for method in route.methods
        if route.path not in PUBLIC_PATHS
    }
    covered = {(c.method, _template(c.path)) for c in CALLS}
    assert covered == declared


def expected_status_ok(caller: str, permission: Permission) -> bool:
    """True when the table allows the caller."""
    return caller in ROLES and Role(caller) in PERMISSIONS[permission]


async def _call(
    env: ApiEnv, live: LiveServer, call: Call, targets: Targets, headers: dict[str, str]
) -> int:
    """Make one call as one caller; returns the status."""
    path = call.path.format(
        account=targets.account,
        person=targets.person,
        credential=targets.credential,
        authorization=targets.authorization,
        alarm=targets.alarm,
        incident=targets.incident,
        visit=targets.visit,
        contractor=targets.contractor,
        media_item=targets.media_item,
        media_request=targets.media_request,
        inspection=targets.inspection,
        inventory=targets.inventory,
        work_order=targets.work_order,
    )
    if call.path == "/api/v1/stream":
        # A stream never ends: read the status line over real HTTP, then hang up.
        async with (
            httpx.AsyncClient(base_url=live.base_url, timeout=30) as client,
            client.stream("GET", path, headers=headers) as resp,
        ):
            return resp.status_code
    body = call.body(targets)
    resp = await env.client.request(call.method, path, headers=headers, json=body)
    assert resp.status_code < 500, resp.text
    return resp.status_code


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.path}")
async def test_route_answers_every_caller_as_the_table_says(
    env: ApiEnv,
    live_server: LiveServer,
    matrix: tuple[Targets, dict[str, dict[str, str]]],
    call: Call,
) -> None:
    targets, headers = matrix
    wrong = []
    for caller in CALLERS:
        status = await _call(env, live_server, call, targets, headers[caller])
        if caller not in ROLES:
            ok = status == 401
        elif expected_status_ok(caller, call.permission):
            ok = status not in (401, 403)
        else:
            ok = status == 403
        if not ok:
            wrong.append(f"{caller}: {status}")
    assert not wrong, wrong
