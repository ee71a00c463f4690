"""Every route x every role (+ no token, expired token, disabled account) against the table.

Allowed roles must get past authorization (not 401/403; 404/409/422 are fine), denied roles
get 403, callers without a valid token 401 (4-8-2 roles, 4-8-6(6) separation of duties).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session

from api.app import PUBLIC_PATHS, api_routes
from api.roles import PERMISSIONS, Permission, Role
from api.security import issue_token
from gateway.clock import utcnow
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import Account
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
    Call("GET", "/api/v1/ui/config", P.AUTH_SESSION),
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
        ("/doors/d-vault", "/doors/{door_id}"),
        ("/events/1", "/events/{seq}"),
        ("/audit/analysis/1", "/audit/analysis/{seq}"),
        ("{alarm}", "{alarm_id}"),
        ("{incident}", "{incident_id}"),
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
    targets = Targets(
        person,
        credential,
        authorization,
        victim.id,
        alarm=alarm.alarm_id,
        incident=incident.incident_id,
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
