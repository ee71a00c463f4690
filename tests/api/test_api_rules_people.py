"""Issue 3's facts about people through the API: training (4-8-3), contract ends (4-8-9) and
duress PINs (4-8-7(3)); each reaches the decision index, none leaks a secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from gateway.domain import PersonKind
from gateway.hashing import verify_secret
from gateway.records import RecordKind
from gateway.storage.models import Credential
from tests.api.api_env import ApiEnv
from tests.api.rules_support import call, changes

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _iso(value: datetime) -> str:
    """ISO 8601 text as the API takes it."""
    return value.isoformat()


async def _card(env: ApiEnv, person: str, card: str, pin: str | None = None) -> dict[str, Any]:
    """Issue a card (and PIN) as the operator; returns the credential body."""
    body: dict[str, Any] = {"card": card}
    if pin is not None:
        body["pin"] = pin
    resp = await call(env, "operator", "POST", f"/people/{person}/credentials", body)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


# --- training (4-8-3) -----------------------------------------------------------------------


async def test_the_chief_records_training_and_the_index_sees_it(env: ApiEnv) -> None:
    person = env.add_person("Tomo Trained")
    await _card(env, person, "H10301:51:5100")
    done = datetime.now(UTC) - timedelta(days=3)
    before = env.last_seq()
    resp = await call(
        env,
        "chief",
        "POST",
        f"/people/{person}/training",
        {"course": "pi-handling", "completed_at": _iso(done), "valid_until": "2099-01-01T00:00Z"},
    )
    assert resp.status_code == 201, resp.text
    row = resp.json()
    assert (row["course"], row["recorded_by"], row["current"]) == ("pi-handling", "chief", True)
    old = await call(
        env,
        "manager",
        "POST",
        f"/people/{person}/training",
        {
            "course": "pi-handling",
            "completed_at": _iso(done - timedelta(days=800)),
            "valid_until": _iso(done - timedelta(days=435)),
        },
    )
    assert old.status_code == 201
    assert old.json()["current"] is False
    listed = await call(env, "auditor", "GET", f"/people/{person}/training")
    assert [(t["id"], t["current"]) for t in listed.json()] == [
        (row["id"], True),
        (old.json()["id"], False),
    ]
    first, second = env.records(before, RecordKind.OPERATOR.value)
    assert (first.actor, first.person_id, first.detail["action"]) == (
        "chief",
        person,
        "training.record",
    )
    assert first.detail["target"] == row["id"]
    assert changes(first)["course"] == "pi-handling"
    assert second.actor == "manager"
    entry = env.gateway.index.lookup("H10301:51:5100")
    assert entry is not None
    assert sorted(
        t.valid_until is not None and t.valid_until.year == 2099 for t in entry.trainings
    ) == [
        False,
        True,
    ]


async def test_training_refusals(env: ApiEnv) -> None:
    person = env.add_person("Not Yet Trained")
    path = f"/people/{person}/training"
    now = datetime.now(UTC)
    own = env.people["manager"]
    resp = await call(
        env,
        "manager",
        "POST",
        f"/people/{own}/training",
        {"course": "c", "completed_at": _iso(now)},
    )
    assert resp.status_code == 403
    assert resp.json()["detail"] == "Nobody may record their own training (4-8-6(6))"
    bad = [
        {"course": "c", "completed_at": _iso(now + timedelta(days=1))},  # in the future
        {"course": "c", "completed_at": _iso(now), "valid_until": _iso(now)},
        {"course": " ", "completed_at": _iso(now)},
        {"course": "c" * 64, "completed_at": _iso(now)},
        {"completed_at": _iso(now)},
        {"course": "c", "completed_at": "yesterday"},
    ]
    for body in bad:
        resp = await call(env, "chief", "POST", path, body)
        assert resp.status_code == 422, body
    resp = await call(
        env,
        "chief",
        "POST",
        f"/people/{'0' * 32}/training",
        {"course": "c", "completed_at": _iso(now)},
    )
    assert resp.status_code == 404
    for role in ("operator", "auditor", "admin"):
        resp = await call(env, role, "POST", path, {"course": "c", "completed_at": _iso(now)})
        assert resp.status_code == 403, role
    assert (await call(env, "admin", "GET", path)).status_code == 403
    assert (await call(env, "operator", "GET", path)).json() == []


# --- contract end (4-8-9) -------------------------------------------------------------------


async def test_a_contractor_needs_a_contract_end_and_nobody_else_has_one(env: ApiEnv) -> None:
    resp = await call(env, "operator", "POST", "/people", {"kind": "contractor", "name": "No End"})
    assert resp.status_code == 422
    assert "contract_end is required for a contractor" in resp.json()["detail"][0]["msg"]
    resp = await call(
        env,
        "operator",
        "POST",
        "/people",
        {"kind": "staff", "name": "Staff", "contract_end": "2099-01-01T00:00:00Z"},
    )
    assert resp.status_code == 422
    assert "contractors only" in resp.json()["detail"][0]["msg"]
    resp = await call(
        env,
        "operator",
        "POST",
        "/people",
        {"kind": "contractor", "name": "Cleo Contractor", "contract_end": "2099-01-01T09:00+09:00"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["contract_end"] == "2099-01-01T00:00:00Z"  # stored and shown as UTC


async def test_changing_a_contract_end_is_recorded_and_reaches_the_index(env: ApiEnv) -> None:
    resp = await call(
        env,
        "manager",
        "POST",
        "/people",
        {"kind": "contractor", "name": "Acme Tech", "contract_end": "2099-01-01T00:00:00Z"},
    )
    person = resp.json()["id"]
    await _card(env, person, "H10301:52:5200")
    before = env.last_seq()
    resp = await call(
        env, "manager", "PATCH", f"/people/{person}", {"contract_end": "2030-06-30T00:00:00Z"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["contract_end"] == "2030-06-30T00:00:00Z"
    [rec] = env.records(before, RecordKind.OPERATOR.value)
    assert rec.detail["action"] == "person.update"
    assert rec.detail["changes"] == {
        "contract_end": {"from": "2099-01-01T00:00:00+00:00", "to": "2030-06-30T00:00:00+00:00"}
    }
    entry = env.gateway.index.lookup("H10301:52:5200")
    assert entry is not None
    assert entry.contract_end == datetime(2030, 6, 30, tzinfo=UTC)
    resp = await call(env, "manager", "PATCH", f"/people/{person}", {"contract_end": None})
    assert resp.status_code == 422
    staff = env.add_person("Plain Staff")
    resp = await call(
        env, "manager", "PATCH", f"/people/{staff}", {"contract_end": "2030-06-30T00:00:00Z"}
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "contract_end"]
    shown = await call(env, "auditor", "GET", f"/people/{staff}")
    assert shown.json()["contract_end"] is None


# --- duress PIN (4-8-7(3)) ------------------------------------------------------------------


async def test_a_duress_pin_is_stored_as_a_hash_and_never_shown(env: ApiEnv) -> None:
    person = env.add_person("Dana Duress", PersonKind.STAFF)
    cred = await _card(env, person, "H10301:53:5300")
    path = f"/credentials/{cred['id']}/duress-pin"
    resp = await call(env, "operator", "PUT", path, {"duress_pin": "97531"})
    assert resp.status_code == 409
    assert resp.json()["detail"] == "The credential has no PIN: set the PIN first"
    pin_set = await call(env, "operator", "PUT", f"/credentials/{cred['id']}/pin", {"pin": "2468"})
    assert pin_set.status_code == 200
    before = env.last_seq()
    for body, where in (
        ({"duress_pin": "2468"}, "must differ from the PIN"),
        ({"duress_pin": "975"}, "site pin policy"),  # shorter than pin.min_length
        ({"duress_pin": "12ab"}, "pattern"),
    ):
        resp = await call(env, "manager", "PUT", path, body)
        assert resp.status_code == 422, body
        assert where in resp.json()["detail"][0]["msg"], resp.json()
    resp = await call(env, "manager", "PUT", path, {"duress_pin": "97531"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["has_duress_pin"] is True
    assert resp.json()["has_pin"] is True
    assert "97531" not in resp.text
    shown = await call(env, "auditor", "GET", f"/credentials/{cred['id']}")
    assert shown.json()["has_duress_pin"] is True
    assert "duress_pin_hash" not in shown.json()
    with Session(env.engine) as session:
        row = session.get(Credential, cred["id"])
        assert row is not None
        assert row.duress_pin_hash is not None
        assert verify_secret(row.duress_pin_hash, "97531")
    entry = env.gateway.index.lookup("H10301:53:5300")
    assert entry is not None
    assert entry.duress_pin_hash == row.duress_pin_hash
    records = env.records(before)
    [rec] = [r for r in records if r.kind == RecordKind.OPERATOR.value]
    assert rec.detail["action"] == "credential.duress_pin"
    assert rec.detail["changes"] == {"card": "H10301:…300", "duress_pin": "set"}
    assert "97531" not in " ".join(str(r.model_dump()) for r in records)
    # the PIN may not become the duress PIN; clearing the PIN clears the duress PIN too
    resp = await call(env, "operator", "PUT", f"/credentials/{cred['id']}/pin", {"pin": "97531"})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["msg"] == "must differ from the duress PIN"
    before = env.last_seq()
    resp = await call(env, "operator", "PUT", f"/credentials/{cred['id']}/pin", {"pin": None})
    assert resp.status_code == 200
    assert (resp.json()["has_pin"], resp.json()["has_duress_pin"]) == (False, False)
    [rec] = env.records(before, RecordKind.OPERATOR.value)
    assert rec.detail["changes"] == {
        "card": "H10301:…300",
        "pin": "cleared",
        "duress_pin": "cleared",
    }
    entry = env.gateway.index.lookup("H10301:53:5300")
    assert entry is not None
    assert entry.duress_pin_hash is None


async def test_clearing_a_duress_pin_and_who_may(env: ApiEnv) -> None:
    person = env.add_person("Clear Duress")
    cred = await _card(env, person, "H10301:53:5400", pin="1357")
    path = f"/credentials/{cred['id']}/duress-pin"
    assert (await call(env, "operator", "PUT", path, {"duress_pin": "8642"})).status_code == 200
    resp = await call(env, "operator", "PUT", path, {"duress_pin": None})
    assert resp.status_code == 200
    assert resp.json()["has_duress_pin"] is False
    for role in ("chief", "auditor", "admin"):
        resp = await call(env, role, "PUT", path, {"duress_pin": "8642"})
        assert resp.status_code == 403, role
    resp = await call(
        env, "operator", "PUT", f"/credentials/{'0' * 32}/duress-pin", {"duress_pin": None}
    )
    assert resp.status_code == 404
    resp = await call(env, "operator", "PUT", path, {})
    assert resp.status_code == 422
