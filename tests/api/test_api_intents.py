"""API changes and their operator records commit together: no crash window (4-8-6(4)).

Each route stages its record in the transaction of its change (a ``pending_record`` row), then
appends it after the commit and deletes the row. A crash between commit and append, or a
storage outage then, leaves the row: the record is written later, once, never lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from gateway.audit.verify import verify_log
from gateway.intents import INTENT
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import PendingRecord, Person, Record
from tests.api.api_env import ApiEnv, wait_for
from tests.api.rules_support import call
from tests.failing_disk import FailingDisk as Outage

pytestmark = pytest.mark.asyncio(loop_scope="module")


def pending(env: ApiEnv) -> int:
    """How many pending rows the site has."""
    with Session(env.engine) as session:
        stmt = select(func.count()).select_from(PendingRecord)
        return session.exec(stmt.where(col(PendingRecord.site_id) == env.site_id)).one()


def with_intent(env: ApiEnv, intent: int) -> list[Record]:
    """The operator records staged as ``intent``."""
    return [
        r for r in env.records(kind=RecordKind.OPERATOR.value) if r.detail.get(INTENT) == intent
    ]


async def ok(resp: Any, status: int = 200) -> dict[str, Any]:
    """The body of a response that must have ``status``."""
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_every_change_lands_with_its_own_record_and_leaves_no_pending_row(
    env: ApiEnv,
) -> None:
    """People, cards, PINs, authorizations, training, work orders, accounts: one record each,
    each naming its own intent; nothing stays pending."""
    before = env.last_seq()
    person = await ok(
        await call(env, "operator", "POST", "/people", {"kind": "staff", "name": "Aoi"}), 201
    )
    pid = person["id"]
    await ok(await call(env, "manager", "PATCH", f"/people/{pid}", {"employee_no": "E-7"}))
    cred = await ok(
        await call(
            env, "operator", "POST", f"/people/{pid}/credentials", {"card": "H10301:7:7007"}
        ),
        201,
    )
    await ok(await call(env, "operator", "PUT", f"/credentials/{cred['id']}/pin", {"pin": "2468"}))
    await ok(
        await call(env, "operator", "PATCH", f"/credentials/{cred['id']}", {"status": "disabled"})
    )
    grant = await ok(
        await call(env, "manager", "POST", "/authorizations", {"person_id": pid, "zone_id": "srv"}),
        201,
    )
    await ok(await call(env, "manager", "POST", f"/authorizations/{grant['id']}/revoke"))
    done = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    training = {"course": "pi-handling", "completed_at": done}
    await ok(await call(env, "chief", "POST", f"/people/{pid}/training", training), 201)
    start = datetime.now(UTC)
    order = {
        "person_id": pid,
        "zone_id": "srv",
        "purpose": "swap a disk",
        "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(hours=2)).isoformat(),
    }
    wo = await ok(await call(env, "operator", "POST", "/work-orders", order), 201)
    await ok(await call(env, "manager", "POST", f"/work-orders/{wo['id']}/approve"))
    await ok(await call(env, "operator", "POST", f"/work-orders/{wo['id']}/cancel"))
    account = {"username": "aoi", "password": "a long enough password", "role": "auditor"}
    acc = await ok(await call(env, "admin", "POST", "/accounts", account), 201)
    await ok(await call(env, "admin", "POST", f"/accounts/{acc['id']}/disable"))
    await ok(
        await call(
            env, "admin", "POST", f"/accounts/{acc['id']}/password", {"password": "x" * 11 + "yz"}
        )
    )
    records = env.records(before, RecordKind.OPERATOR.value)
    assert [r.detail["action"] for r in records] == [
        "person.create",
        "person.update",
        "credential.create",
        "credential.pin",
        "credential.update",
        "authorization.grant",
        "authorization.revoke",
        "training.record",
        "work_order.request",
        "work_order.approve",
        "work_order.cancel",
        "account.create",
        "account.disable",
        "account.password_reset",
    ]
    intents = [r.detail[INTENT] for r in records]
    assert all(isinstance(i, int) for i in intents)
    # one each, in the order the changes committed
    assert intents == sorted({int(str(i)) for i in intents})
    assert pending(env) == 0


async def test_a_refused_change_leaves_neither_change_nor_record(env: ApiEnv) -> None:
    """A card already issued: 409, nothing staged, nothing recorded."""
    person = env.add_person("Twice Carded")
    path = f"/people/{person}/credentials"
    await ok(await call(env, "operator", "POST", path, {"card": "H10301:8:8008"}), 201)
    before = env.last_seq()
    resp = await call(env, "operator", "POST", path, {"card": "H10301:8:8008"})
    assert resp.status_code == 409
    assert env.records(before, RecordKind.OPERATOR.value) == []
    assert pending(env) == 0


class PowerLost(Exception):
    """The process dies right after the commit (kill -9): nothing after it runs."""


async def test_a_crash_after_the_commit_is_recorded_once_at_the_next_start(
    env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between the commit and the append: the person exists, its record is pending;
    the start-up recovery writes it once, with the time of the change; the log verifies."""

    def die(rec: NewRecord) -> int | None:
        raise PowerLost

    monkeypatch.setattr(env.app.state.core, "record_intent", die)
    before = env.last_seq()
    with pytest.raises(PowerLost):
        await call(env, "operator", "POST", "/people", {"kind": "staff", "name": "Crash Survivor"})
    monkeypatch.undo()
    with Session(env.engine) as session:
        [person] = session.exec(select(Person).where(Person.name == "Crash Survivor")).all()
        [row] = session.exec(select(PendingRecord)).all()
    assert env.records(before, RecordKind.OPERATOR.value) == []
    assert await env.gateway.intents.recover() == 1  # what Gateway.start() does
    [rec] = with_intent(env, row.id or 0)
    assert rec.person_id == person.id
    assert rec.detail["action"] == "person.create"
    assert rec.ts == datetime.fromisoformat(str(row.record["ts"]))
    assert pending(env) == 0
    assert await env.gateway.intents.recover() == 0  # a second start finds nothing
    assert len(with_intent(env, row.id or 0)) == 1
    report = await asyncio.get_running_loop().run_in_executor(
        None, lambda: verify_log(env.engine, env.site_id)
    )
    assert report.ok, report.problems


@pytest.fixture
def outage(env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Outage]:
    """The record log goes down (retries every 50 ms); the test brings it back."""
    monkeypatch.setattr("gateway.recorder.RETRY_S", 0.05)
    recorder = env.gateway.recorder
    switch = Outage(recorder._sink, down=True)  # type: ignore[arg-type]
    monkeypatch.setattr(recorder, "_sink", switch)
    yield switch
    switch.down = False


async def test_a_change_during_a_storage_outage_stands_and_is_recorded_once_when_back(
    env: ApiEnv, outage: Outage
) -> None:
    """The log refuses the append: the route still answers (the change is committed and its
    record held, not lost); the retry writes it once and the row goes."""
    person = env.add_person("Outage Olga")
    resp = await call(env, "manager", "PATCH", f"/people/{person}", {"employee_no": "E-9"})
    assert resp.status_code == 200, resp.text
    with Session(env.engine) as session:
        [row] = session.exec(select(PendingRecord)).all()
    assert row.id is not None
    assert with_intent(env, row.id) == []
    assert env.gateway.recorder.backlog >= 1
    outage.down = False
    await wait_for(lambda: pending(env) == 0, what="the held record written and its row deleted")
    [rec] = with_intent(env, row.id)
    assert (rec.person_id, rec.detail["action"]) == (person, "person.update")
