"""Helpers of the issue-3 API tests: calls as an account, extra accounts, rows in the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from sqlmodel import Session

from gateway.door import Passage
from gateway.storage.models import Authorization, Record
from tests.api.api_env import ApiEnv

# Accounts beside the one per role that every ApiEnv has: (username, role, zones).
EXTRA_ACCOUNTS: tuple[tuple[str, str, list[str]], ...] = (
    ("srv-manager-2", "manager", ["srv"]),  # a second manager of srv
    ("vault-manager", "manager", ["vault"]),  # manages vault only
    ("operator-2", "operator", []),  # a second desk operator
)


async def add_extra_accounts(env: ApiEnv) -> None:
    """Create EXTRA_ACCOUNTS and log each in (their tokens go into ``env.tokens``)."""
    for username, role, zones in EXTRA_ACCOUNTS:
        if username not in env.tokens:
            env.add_account(username, role, zones=zones)
            env.tokens[username] = await env.token_for(username)


async def call(
    env: ApiEnv, who: str, method: str, path: str, body: Any = None, **params: Any
) -> httpx.Response:
    """One request as ``who`` (a role or an extra account)."""
    return await env.client.request(
        method, f"/api/v1{path}", headers=env.auth(who), json=body, params=params or None
    )


def store_authorization(
    env: ApiEnv, person_id: str, zone_id: str, granted_at: datetime, **fields: Any
) -> str:
    """An authorization written straight to the store (e.g. granted long ago); returns its id."""
    with Session(env.engine, expire_on_commit=False) as session:
        row = Authorization(
            site_id=env.site_id,
            person_id=person_id,
            zone_id=zone_id,
            granted_by="srv-manager-2",
            granted_at=granted_at,
            **fields,
        )
        session.add(row)
        session.commit()
        return row.id


def walk(env: ApiEnv, person_id: str, kind: str, direction: str, escort: str | None = None) -> None:
    """A person passes door d-srv, as the door reports it to the zones (AccessTaken)."""
    env.gateway.zones.passed(
        "srv", "d-srv", Passage(0, person_id, kind, None, direction, escorted_by=escort)
    )


def changes(rec: Record) -> dict[str, Any]:
    """The ``changes`` of an operator record's detail."""
    out = rec.detail["changes"]
    assert isinstance(out, dict)
    return out
