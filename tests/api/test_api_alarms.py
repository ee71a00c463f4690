"""The alarm console and incidents over HTTP, on the real gateway, store and simulated module.

4-8-7(4): a forced door on the simulated module becomes an alarm the desk acknowledges and
closes; 4-8-11: incidents opened, noted, legally tracked and closed by the right people.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest

from gateway.clock import utcnow
from gateway.core_api import LiveUpdate
from gateway.records import NewRecord, RecordKind
from tests.api.api_env import ApiEnv, LiveServer, wait_for
from tests.api.test_api_stream import open_stream

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"


async def _get(env: ApiEnv, path: str, who: str = "operator") -> httpx.Response:
    """GET as one of the role accounts."""
    return await env.client.get(API + path, headers=env.auth(who))


async def _post(
    env: ApiEnv, path: str, who: str = "operator", body: dict[str, Any] | None = None
) -> httpx.Response:
    """POST as one of the role accounts."""
    return await env.client.post(API + path, headers=env.auth(who), json=body)


async def _alarm_of(env: ApiEnv, type_: str) -> dict[str, Any]:
    """The one open alarm of a type, once it is there."""
    found: list[dict[str, Any]] = []

    async def poll() -> bool:
        """One look at the open alarms."""
        resp = await _get(env, "/alarms", "auditor")
        assert resp.status_code == 200
        found[:] = [a for a in resp.json() if a["type"] == type_]
        return bool(found)

    for _ in range(1500):
        if await poll():
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {type_} alarm")


async def test_forced_door_acknowledged_and_closed_from_the_desk(env: ApiEnv) -> None:
    updates: list[LiveUpdate] = []

    async def listen() -> None:
        """Keep every live update."""
        async for update in env.gateway.live():
            updates.append(update)

    listener = asyncio.create_task(listen())
    await wait_for(lambda: env.gateway._live.subscribers > 0, what="live subscriber")
    try:
        since = env.last_seq()
        env.sim.door_action("d-srv", "force")
        alarm = await _alarm_of(env, "door.forced")
        assert (alarm["state"], alarm["source"], alarm["zone_id"], alarm["silent"]) == (
            "raised",
            "door:d-srv",
            "srv",
            False,
        )
        assert alarm["instructions"]["ja"] and alarm["instructions"]["en"]
        path = f"/alarms/{alarm['alarm_id']}"
        resp = await _post(env, path + "/acknowledge", body={"note": "camera shows nobody"})
        assert resp.status_code == 200, resp.text
        assert (resp.json()["acknowledged_by"], resp.json()["note"]) == (
            "operator",
            "camera shows nobody",
        )
        again = await _post(env, path + "/acknowledge", "manager")
        assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]
        acks = env.records(since, kind="alarm.acknowledged")
        assert len(acks) == 1 and acks[0].actor == "operator"  # written before the answer
        # the sim's door swings shut after its pass time: the condition clears
        for _ in range(1500):
            if (await _get(env, path)).json()["state"] == "cleared":
                break
            await asyncio.sleep(0.01)
        resp = await _post(env, path + "/close", body={"note": "nothing taken"})
        assert resp.status_code == 200 and resp.json()["state"] == "closed"
        assert (await _get(env, path, "auditor")).json()["state"] == "closed"
        history = (await _get(env, "/alarms/history?limit=50", "auditor")).json()
        assert alarm["alarm_id"] in [a["alarm_id"] for a in history]
        assert alarm["alarm_id"] not in [a["alarm_id"] for a in (await _get(env, "/alarms")).json()]
        await wait_for(
            lambda: (
                [u.data["state"] for u in updates if u.topic == "alarm"][-4:]
                == ["raised", "acknowledged", "cleared", "closed"]
            ),
            what="alarm updates on the live feed",
        )
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def test_refusals_and_bad_input(env: ApiEnv) -> None:
    assert (await _get(env, "/alarms/" + "0" * 32)).status_code == 404
    assert (await _post(env, "/alarms/" + "0" * 32 + "/acknowledge")).status_code == 404
    assert (await _get(env, "/alarms/not%20an%20id")).status_code == 422
    long_note = {"note": "x" * 501}
    assert (await _post(env, "/alarms/" + "0" * 32 + "/close", body=long_note)).status_code == 422
    assert (await _post(env, "/alarms/abc/close", body={"nope": 1})).status_code == 422
    catalogue = (await _get(env, "/alarms/catalogue", "auditor")).json()
    by_type = {c["type"]: c for c in catalogue}
    assert by_type["access.duress"]["silent"] and by_type["access.duress"]["priority"] == 1
    assert by_type["door.forced"]["raised_by"] == ["door.forced"]
    assert by_type["audit.bulk_export"]["momentary"]
    # the admin reads nothing of alarms or incidents (4-8-6(6))
    assert (await _get(env, "/alarms", "admin")).status_code == 403
    assert (await _get(env, "/incidents", "admin")).status_code == 403


async def test_incident_from_an_alarm_through_legal_steps_to_closing(env: ApiEnv) -> None:
    # the vault reader's tamper switch (as the core records it)
    await env.gateway.record(
        NewRecord(RecordKind.READER_TAMPER, utcnow(), door_id="d-vault", reader_id="r-vault-in")
    )
    fault = await _alarm_of(env, "reader.tamper")
    assert fault["source"] == "reader:r-vault-in"
    resp = await _post(env, "/incidents", body={"alarm_id": fault["alarm_id"]})
    assert resp.status_code == 201, resp.text
    incident = resp.json()
    assert (incident["zone_id"], incident["alarm_id"], incident["state"]) == (
        "vault",
        fault["alarm_id"],
        "open",
    )
    assert [s["kind"] for s in incident["steps"]] == ["opened", "notified", "notified"]
    path = f"/incidents/{incident['incident_id']}"
    resp = await _post(env, path + "/containment", body={"action": "lockdown"})
    assert resp.status_code == 200
    assert resp.json()["steps"][-1]["detail"]["zone"] == "vault"
    assert (await _post(env, path + "/notes", body={"text": ""})).status_code == 422
    assert (await _post(env, path + "/notes", body={"text": "module unplugged"})).status_code == 200
    resp = await _post(env, path + "/personal-data", body={"text": "vault holds résumés"})
    assert resp.status_code == 200
    assert [d["step"] for d in resp.json()["deadlines"]] == ["preliminary_report", "final_report"]
    close = {"root_cause": "module unplugged by a contractor", "measures": "cable lock fitted"}
    # srv's manager cannot close a vault incident; the chief can, once the legal steps are done
    assert (await _post(env, path + "/close", "manager", close)).status_code == 403
    assert (await _post(env, path + "/close", "operator", close)).status_code == 403
    blocked = await _post(env, path + "/close", "chief", close)
    assert blocked.status_code == 409 and "legal steps not done" in blocked.json()["detail"]
    assert (await _post(env, path + "/close", "chief", {"root_cause": "x"})).status_code == 422
    for step in ("preliminary_report", "final_report"):
        done = await _post(env, f"{path}/legal-steps/{step}/done", "chief", {"text": "sent"})
        assert done.status_code == 200
    missing = await _post(env, f"{path}/legal-steps/notice_to_persons/done", "chief")
    assert missing.status_code == 409
    resp = await _post(env, path + "/close", "chief", close)
    assert resp.status_code == 200 and resp.json()["state"] == "closed"
    assert resp.json()["root_cause"] == close["root_cause"]
    after = await _post(env, path + "/notes", body={"text": "late"})
    assert after.status_code == 409
    listed = (await _get(env, "/incidents?open_only=true", "auditor")).json()
    assert incident["incident_id"] not in [i["incident_id"] for i in listed]
    assert (await _get(env, "/incidents/" + "0" * 32)).status_code == 404


async def test_a_manager_closes_incidents_of_their_own_zone(env: ApiEnv) -> None:
    resp = await _post(env, "/incidents", "manager", {"title": "Tailgating seen", "zone_id": "srv"})
    assert resp.status_code == 201
    path = f"/incidents/{resp.json()['incident_id']}"
    close = {"root_cause": "visitor followed staff", "measures": "briefing on tailgating"}
    resp = await _post(env, path + "/close", "manager", close)
    assert resp.status_code == 200 and resp.json()["closed_by"] == "manager"
    nowhere = await _post(env, "/incidents", body={"title": "Phone call threat"})
    assert nowhere.status_code == 201 and nowhere.json()["zone_id"] is None
    path = f"/incidents/{nowhere.json()['incident_id']}"
    assert (await _post(env, path + "/close", "manager", close)).status_code == 403
    assert (
        await _post(env, "/incidents", body={"title": "x", "zone_id": "attic"})
    ).status_code == 409
    assert (
        await _post(env, "/incidents", body={"title": "x", "zone_id": "Bad Zone"})
    ).status_code == 422


async def test_the_stream_carries_alarms_to_the_desk_and_not_to_the_admin(
    env: ApiEnv, live_server: LiveServer
) -> None:
    async with (
        open_stream(live_server, token=env.tokens["operator"], in_query=False) as (_, desk),
        open_stream(live_server, token=env.tokens["admin"], in_query=False) as (_, admin),
    ):
        await desk.until("ready")
        await admin.until("ready")
        await env.gateway.record(
            NewRecord(RecordKind.READER_TAMPER, utcnow(), reader_id="r-srv-in")
        )
        seen = await desk.until("alarm")
        assert seen[-1].data["type"] == "reader.tamper" and seen[-1].data["state"] == "raised"
        # the door's next change comes after the alarm: the admin gets it, and no alarm before
        env.sim.door_action("d-srv", "force")
        await desk.until("door")
        before = await admin.until("door")
        assert "alarm" not in [e.name for e in before]
        assert "record" not in [e.name for e in before]
