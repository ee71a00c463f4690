"""Issue 3 at the desk: occupancy, anti-passback forgiveness, zone lockdown and door modes.

Clauses 4-8-7(1) (入退の記録, outsiders marked), 4-8-7(2) (door modes), 4-8-11(2) (lockdown as
containment) and 4-8-6(6) (nobody forgives their own passback). The core records these
actions; the API writes nothing twice.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.domain import PersonKind
from gateway.records import RecordKind
from tests.api.api_env import ApiEnv
from tests.api.rules_support import call, walk

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _kinds(env: ApiEnv, since: int) -> list[str]:
    """Kinds of the records written after ``since``, oldest first."""
    return [r.kind for r in env.records(since)]


# --- occupancy ------------------------------------------------------------------------------


async def test_occupancy_names_who_is_inside_and_marks_outsiders(env: ApiEnv) -> None:
    host = env.add_person("Hiro Host")
    guest = env.add_person("Gina Guest", PersonKind.VISITOR)
    walk(env, host, "staff", "in")
    walk(env, guest, "visitor", "in", escort=host)
    try:
        resp = await call(env, "auditor", "GET", "/zones/srv/occupancy")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["zone_id"] == "srv"
        assert body["count"] == len(body["occupants"]) >= 2
        assert body["outsiders"] == sum(o["outsider"] for o in body["occupants"]) >= 1
        ours = [o for o in body["occupants"] if o["person_id"] in (host, guest)]
        assert [
            (o["name"], o["kind"], o["outsider"], o["escorted_by"], o["escort_name"]) for o in ours
        ] == [
            ("Hiro Host", "staff", False, None, None),
            ("Gina Guest", "visitor", True, host, "Hiro Host"),
        ]
        assert datetime.fromisoformat(ours[0]["since"]) <= datetime.fromisoformat(ours[1]["since"])
    finally:
        walk(env, guest, "visitor", "out")
        walk(env, host, "staff", "out")
    resp = await call(env, "operator", "GET", "/zones/srv/occupancy")
    assert host not in {o["person_id"] for o in resp.json()["occupants"]}


async def test_occupancy_of_an_empty_zone_and_of_no_zone(env: ApiEnv) -> None:
    resp = await call(env, "chief", "GET", "/zones/vault/occupancy")
    assert resp.status_code == 200
    assert resp.json() == {"zone_id": "vault", "count": 0, "outsiders": 0, "occupants": []}
    resp = await call(env, "chief", "GET", "/zones/nowhere/occupancy")
    assert resp.status_code == 404
    assert resp.json()["detail"] == "No such zone"
    resp = await call(env, "chief", "GET", "/zones/NOT_A_ZONE!/occupancy")
    assert resp.status_code == 422


# --- anti-passback forgiveness --------------------------------------------------------------


async def test_forgiving_passback_is_recorded_once_by_the_core(env: ApiEnv) -> None:
    person = env.add_person("Pat Passback")
    walk(env, person, "staff", "in")
    assert env.gateway.zones.presence("srv", person).inside
    before = env.last_seq()
    resp = await call(
        env,
        "operator",
        "POST",
        "/zones/srv/passback/forgive",
        {"person_id": person, "note": "card handed back through the door"},
    )
    assert resp.status_code == 200, resp.text
    seq = resp.json()["seq"]
    assert resp.json() == {"zone_id": "srv", "person_id": person, "seq": seq}
    [rec] = [r for r in env.records(before) if r.kind == RecordKind.ZONE_PASSBACK_FORGIVEN.value]
    assert rec.seq == seq
    assert (rec.actor, rec.person_id, rec.zone_id) == ("operator", person, "srv")
    assert rec.detail == {"note": "card handed back through the door"}
    assert RecordKind.OPERATOR.value not in _kinds(env, before)  # the core's record only
    presence = env.gateway.zones.presence("srv", person)
    assert not presence.inside
    assert presence.last_in is None  # timed anti-passback forgets the entry too


async def test_forgiveness_refusals(env: ApiEnv) -> None:
    path = "/zones/srv/passback/forgive"
    own = env.people["manager"]
    before = env.last_seq()
    resp = await call(env, "manager", "POST", path, {"person_id": own, "note": "mine"})
    assert resp.status_code == 403
    assert resp.json()["detail"] == "Nobody may forgive their own anti-passback state (4-8-6(6))"
    resp = await call(env, "manager", "POST", path, {"person_id": "f" * 32, "note": "x"})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "person_id"]
    other = env.add_person("Somebody Else")
    resp = await call(
        env,
        "operator",
        "POST",
        "/zones/nowhere/passback/forgive",
        {"person_id": other, "note": "x"},
    )
    assert resp.status_code == 404
    for body in ({"person_id": other}, {"person_id": other, "note": "   "}, {"note": "x"}):
        resp = await call(env, "operator", "POST", path, body)
        assert resp.status_code == 422, body
    resp = await call(env, "chief", "POST", path, {"person_id": other, "note": "x"})
    assert resp.status_code == 403  # forgiveness is the desk's and the managers' only
    assert env.records(before, RecordKind.ZONE_PASSBACK_FORGIVEN.value) == []


# --- zone lockdown --------------------------------------------------------------------------


async def test_lockdown_and_release_are_recorded_with_who_and_why(env: ApiEnv) -> None:
    before = env.last_seq()
    resp = await call(
        env, "operator", "POST", "/zones/srv/lockdown", {"reason": "intrusion suspected"}
    )
    try:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["zone_id"] == "srv"
        assert [(d["door_id"], d["mode"]) for d in body["doors"]] == [("d-srv", "locked_down")]
        door = await call(env, "auditor", "GET", "/doors/d-srv")
        assert door.json()["mode"] == "locked_down"
        # a door held by a lockdown cannot be set door by door
        resp = await call(
            env, "manager", "PUT", "/doors/d-srv/mode", {"mode": "access", "reason": "x"}
        )
        assert resp.status_code == 409
        assert "locked down" in resp.json()["detail"]
        [rec] = env.records(before, RecordKind.ZONE_LOCKDOWN.value)
        assert rec.seq == body["seq"]
        assert rec.actor == "operator"
        assert rec.detail["reason"] == "intrusion suspected"
        assert rec.detail["doors"] == ["d-srv"]
    finally:
        released = await call(
            env, "chief", "POST", "/zones/srv/lockdown/release", {"reason": "all clear"}
        )
    assert released.status_code == 200, released.text
    assert [(d["door_id"], d["mode"]) for d in released.json()["doors"]] == [("d-srv", "access")]
    [rel] = env.records(before, RecordKind.ZONE_LOCKDOWN_RELEASED.value)
    assert (rel.seq, rel.actor, rel.detail["reason"]) == (
        released.json()["seq"],
        "chief",
        "all clear",
    )
    assert RecordKind.OPERATOR.value not in _kinds(env, before)
    again = await call(env, "manager", "POST", "/zones/srv/lockdown/release", {"reason": "again"})
    assert again.status_code == 409
    assert again.json()["detail"] == "zone srv is not locked down"


async def test_lockdown_needs_a_reason_and_a_zone_and_the_right_role(env: ApiEnv) -> None:
    before = env.last_seq()
    for body in (None, {}, {"reason": ""}, {"reason": " \n"}, {"reason": "x", "extra": 1}):
        resp = await call(env, "chief", "POST", "/zones/srv/lockdown", body)
        assert resp.status_code == 422, body
    resp = await call(env, "chief", "POST", "/zones/nowhere/lockdown", {"reason": "x"})
    assert resp.status_code == 404
    for role in ("auditor", "admin"):
        resp = await call(env, role, "POST", "/zones/srv/lockdown", {"reason": "x"})
        assert resp.status_code == 403, role
    assert env.records(before, RecordKind.ZONE_LOCKDOWN.value) == []


# --- door modes -----------------------------------------------------------------------------


async def test_a_door_mode_from_the_desk_is_recorded_and_applied(env: ApiEnv) -> None:
    before = env.last_seq()
    resp = await call(
        env, "manager", "PUT", "/doors/d-srv/mode", {"mode": "locked", "reason": "cabling work"}
    )
    try:
        assert resp.status_code == 200, resp.text
        assert resp.json()["mode"] == "locked"
        door = await call(env, "operator", "GET", "/doors/d-srv")
        assert door.json()["mode"] == "locked"
        # per-door records of an earlier lockdown release may still land after ``before``
        [rec] = [
            r
            for r in env.records(before, RecordKind.DOOR_MODE.value)
            if r.seq == resp.json()["seq"]
        ]
        assert (rec.actor, rec.door_id, rec.zone_id) == ("manager", "d-srv", "srv")
        assert rec.detail == {"mode": "locked", "was": "access", "reason": "cabling work"}
    finally:
        back = await call(
            env, "operator", "PUT", "/doors/d-srv/mode", {"mode": "access", "reason": "done"}
        )
    assert back.status_code == 200
    assert RecordKind.OPERATOR.value not in _kinds(env, before)


async def test_door_mode_refusals(env: ApiEnv) -> None:
    path = "/doors/d-srv/mode"
    resp = await call(env, "chief", "PUT", path, {"mode": "locked_down", "reason": "x"})
    assert resp.status_code == 422
    assert "zone lockdown" in resp.json()["detail"][0]["msg"]
    for body in ({"mode": "open", "reason": "x"}, {"mode": "locked"}, {"reason": "x"}):
        resp = await call(env, "chief", "PUT", path, body)
        assert resp.status_code == 422, body
    resp = await call(env, "chief", "PUT", "/doors/nowhere/mode", {"mode": "locked", "reason": "x"})
    assert resp.status_code == 404
    # double-locking an occupied zone could trap someone inside
    person = env.add_person("Still Inside")
    walk(env, person, "staff", "in")
    try:
        resp = await call(env, "chief", "PUT", path, {"mode": "double_locked", "reason": "night"})
        assert resp.status_code == 409
        assert "occupied" in resp.json()["detail"]
    finally:
        walk(env, person, "staff", "out")
    for role in ("auditor", "admin"):
        resp = await call(env, role, "PUT", path, {"mode": "locked", "reason": "x"})
        assert resp.status_code == 403, role
