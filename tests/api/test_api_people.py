"""People and credentials: CRUD with operator records, PINs only as hashes (4-8-7(1), 4-8-7(3))."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlmodel import Session

from gateway.domain import CardId, CredentialFormat
from gateway.hashing import verify_secret
from gateway.records import RecordKind
from gateway.storage.models import Credential, Record
from tests.api.api_env import ApiEnv

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _create_person(env: ApiEnv, **body: Any) -> dict[str, Any]:
    """POST a person as the operator; returns the response body."""
    payload = {"kind": "staff", "name": "Hana Tanaka", **body}
    resp = await env.client.post("/api/v1/people", headers=env.auth("operator"), json=payload)
    assert resp.status_code == 201, resp.text
    person: dict[str, Any] = resp.json()
    return person


def _operator_records(env: ApiEnv, since: int) -> list[Record]:
    """Operator records written after ``since``."""
    return env.records(since, RecordKind.OPERATOR.value)


def _all_text(records: list[Record]) -> str:
    """Every field of the records as one string, to search for secrets."""
    return " ".join(str(r.model_dump()) for r in records)


async def test_create_and_read_a_person_writes_an_operator_record(env: ApiEnv) -> None:
    before = env.last_seq()
    person = await _create_person(
        env,
        kind="contractor",
        organisation="Acme Maintenance",
        contract_end="2099-03-31T00:00:00Z",  # required for contractors (4-8-9)
    )
    assert person["kind"] == "contractor"
    assert person["contract_end"] == "2099-03-31T00:00:00Z"
    assert person["enabled"] is True
    [rec] = _operator_records(env, before)
    assert rec.actor == "operator"
    assert rec.person_id == person["id"]
    assert rec.person_kind == "contractor"
    assert rec.detail["action"] == "person.create"
    assert rec.detail["target"] == person["id"]
    assert rec.detail["changes"]["organisation"] == "Acme Maintenance"
    resp = await env.client.get(f"/api/v1/people/{person['id']}", headers=env.auth("auditor"))
    assert resp.status_code == 200
    assert resp.json() == person


async def test_patch_records_from_and_to_and_only_what_changed(env: ApiEnv) -> None:
    person = await _create_person(env, name="Old Name")
    before = env.last_seq()
    resp = await env.client.patch(
        f"/api/v1/people/{person['id']}",
        headers=env.auth("manager"),
        json={"name": "New Name", "enabled": True, "employee_no": "E-42"},
    )
    assert resp.status_code == 200
    assert resp.json()["name"] == "New Name"
    [rec] = _operator_records(env, before)
    assert rec.detail["action"] == "person.update"
    assert rec.detail["changes"] == {
        "name": {"from": "Old Name", "to": "New Name"},
        "employee_no": {"from": None, "to": "E-42"},
    }
    # Nothing changed: nothing recorded.
    before = env.last_seq()
    resp = await env.client.patch(
        f"/api/v1/people/{person['id']}", headers=env.auth("manager"), json={"name": "New Name"}
    )
    assert resp.status_code == 200
    assert _operator_records(env, before) == []


async def test_disabling_a_person_reaches_the_decision_index(env: ApiEnv) -> None:
    person = await _create_person(env)
    card = {"card": "H10301:5:5000"}
    resp = await env.client.post(
        f"/api/v1/people/{person['id']}/credentials", headers=env.auth("operator"), json=card
    )
    assert resp.status_code == 201
    entry = env.gateway.index.lookup("H10301:5:5000")
    assert entry is not None
    assert entry.person_enabled
    await env.client.patch(
        f"/api/v1/people/{person['id']}", headers=env.auth("operator"), json={"enabled": False}
    )
    entry = env.gateway.index.lookup("H10301:5:5000")
    assert entry is not None
    assert not entry.person_enabled


async def test_list_people_filters_and_pages(env: ApiEnv) -> None:
    tag = "Zq"  # a prefix no other test uses
    for i in range(5):
        await _create_person(env, name=f"{tag} Visitor {i}", kind="visitor")
    await _create_person(env, name=f"{tag} Staff", kind="staff", enabled=False)
    headers = env.auth("chief")
    resp = await env.client.get("/api/v1/people", headers=headers, params={"q": tag})
    assert resp.json()["total"] == 6
    resp = await env.client.get(
        "/api/v1/people", headers=headers, params={"q": tag, "kind": "visitor", "limit": 2}
    )
    body = resp.json()
    assert body["total"] == 5
    assert [p["name"] for p in body["items"]] == [f"{tag} Visitor 0", f"{tag} Visitor 1"]
    resp = await env.client.get(
        "/api/v1/people",
        headers=headers,
        params={"q": tag, "kind": "visitor", "limit": 2, "offset": 4},
    )
    assert [p["name"] for p in resp.json()["items"]] == [f"{tag} Visitor 4"]
    resp = await env.client.get(
        "/api/v1/people", headers=headers, params={"q": tag, "enabled": "false"}
    )
    assert [p["name"] for p in resp.json()["items"]] == [f"{tag} Staff"]
    # LIKE wildcards in q are taken literally.
    resp = await env.client.get("/api/v1/people", headers=headers, params={"q": "%"})
    assert resp.json()["total"] == 0


async def test_page_limit_above_the_maximum_is_422(env: ApiEnv) -> None:
    limit = env.settings.page_limit_max + 1
    resp = await env.client.get(
        "/api/v1/people", headers=env.auth("chief"), params={"limit": limit}
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_unknown_person_is_404(env: ApiEnv) -> None:
    resp = await env.client.get("/api/v1/people/" + "0" * 32, headers=env.auth("chief"))
    assert resp.status_code == 404
    resp = await env.client.post(
        "/api/v1/people/" + "0" * 32 + "/credentials",
        headers=env.auth("operator"),
        json={"card": "H10301:1:1"},
    )
    assert resp.status_code == 404


async def test_credential_in_both_forms_with_pin_never_shows_the_pin(
    env: ApiEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    person = await _create_person(env)
    before = env.last_seq()
    pin = "739184"
    resp = await env.client.post(
        f"/api/v1/people/{person['id']}/credentials",
        headers=env.auth("operator"),
        json={"format": "H10301", "facility": 12, "number": 34567, "pin": pin},
    )
    assert resp.status_code == 201, resp.text
    cred = resp.json()
    assert cred["card"] == "H10301:12:34567"  # full key in master data
    assert cred["has_pin"] is True
    assert pin not in resp.text
    assert "pin_hash" not in cred
    assert "$argon2" not in resp.text
    resp = await env.client.post(
        f"/api/v1/people/{person['id']}/credentials",
        headers=env.auth("operator"),
        json={"card": "c1000:100:765432", "valid_to": "2030-01-01T09:00:00+09:00"},
    )
    assert resp.status_code == 201, resp.text
    second = resp.json()
    assert second["card"] == "C1000:100:765432"
    assert second["has_pin"] is False
    assert second["valid_to"].startswith("2030-01-01T00:00:00")
    listed = await env.client.get(
        f"/api/v1/people/{person['id']}/credentials", headers=env.auth("auditor")
    )
    assert [c["id"] for c in listed.json()] == [cred["id"], second["id"]]
    # The PIN is stored only as an argon2id hash that verifies.
    with Session(env.engine) as session:
        row = session.get(Credential, cred["id"])
        assert row is not None
        assert row.pin_hash is not None
        assert row.pin_hash.startswith("$argon2id$")
        assert verify_secret(row.pin_hash, pin)
    records = _operator_records(env, before)
    assert [r.detail["action"] for r in records] == ["credential.create", "credential.create"]
    assert records[0].credential == CardId(CredentialFormat.H10301, 12, 34567).masked
    assert records[0].detail["changes"]["pin"] == "set"
    text = _all_text(records)
    for secret in (pin, "34567", "765432", "H10301:12:34567"):
        assert secret not in text
        assert secret not in caplog.text


async def test_duplicate_card_is_409(env: ApiEnv) -> None:
    person = await _create_person(env)
    other = await _create_person(env, name="Someone Else")
    url = f"/api/v1/people/{person['id']}/credentials"
    first = await env.client.post(url, headers=env.auth("operator"), json={"card": "H10304:9:9"})
    assert first.status_code == 201
    before = env.last_seq()
    again = await env.client.post(
        f"/api/v1/people/{other['id']}/credentials",
        headers=env.auth("operator"),
        json={"format": "H10304", "facility": 9, "number": 9},
    )
    assert again.status_code == 409
    assert _operator_records(env, before) == []


async def test_em4100_card_numbers_use_all_32_bits(env: ApiEnv) -> None:
    person = await _create_person(env)
    resp = await env.client.post(
        f"/api/v1/people/{person['id']}/credentials",
        headers=env.auth("operator"),
        json={"card": f"EM4100:255:{2**32 - 1}"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["number"] == 2**32 - 1


@pytest.mark.parametrize(
    "body",
    [
        {"card": "H10301:256:1"},  # facility does not fit 8 bits
        {"card": "H10301:1:65536"},  # number does not fit 16 bits
        {"card": "XYZ:1:1"},
        {"card": "H10301:1"},
        {"card": "H10301:-1:5"},
        {"format": "H10301", "facility": 1},
        {"card": "H10301:1:1", "number": 5},
        {"format": "H10301", "facility": "1", "number": 1},
        {"format": "H10301", "facility": 1.5, "number": 1},
        {"format": "H10301", "facility": True, "number": 1},
        {"format": "H10301", "facility": 10**30, "number": 1},
        {"card": "H10301:1:1", "pin": "12a4"},
        {"card": "H10301:1:1", "pin": "123"},  # shorter than the site's min_length 4
        {"card": "H10301:1:1", "pin": "1234567"},  # longer than max_length 6
        {"card": "H10301:1:1", "pin": 1234},
        {"card": "H10301:1:1", "valid_from": "2030-01-01T00:00:00Z", "valid_to": "2029-01-01"},
        {"card": "H10301:1:1", "valid_to": "not a date"},
        {"card": "H10301:1:1", "status": "enabled"},  # unknown key on create
        {},
    ],
)
async def test_bad_credentials_are_422(env: ApiEnv, body: dict[str, Any]) -> None:
    person = env.people.setdefault("cred-422", env.add_person("Bad Input Target"))
    resp = await env.client.post(
        f"/api/v1/people/{person}/credentials", headers=env.auth("operator"), json=body
    )
    assert resp.status_code == 422, resp.text
    if "pin" in body:
        assert str(body["pin"]) not in resp.text  # the PIN is not echoed back


async def test_pin_set_replace_clear(env: ApiEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    person = await _create_person(env)
    resp = await env.client.post(
        f"/api/v1/people/{person['id']}/credentials",
        headers=env.auth("operator"),
        json={"card": "H10301:40:4040"},
    )
    cred_id = resp.json()["id"]
    url = f"/api/v1/credentials/{cred_id}/pin"
    before = env.last_seq()
    for pin, has_pin in (("2468", True), ("97531", True), (None, False)):
        resp = await env.client.put(url, headers=env.auth("operator"), json={"pin": pin})
        assert resp.status_code == 200, resp.text
        assert resp.json()["has_pin"] is has_pin
    records = _operator_records(env, before)
    assert [r.detail["changes"]["pin"] for r in records] == ["set", "replaced", "cleared"]
    assert all(r.detail["action"] == "credential.pin" for r in records)
    text = _all_text(records) + caplog.text
    assert "2468" not in text
    assert "97531" not in text
    assert "4040" not in text
    # The key must be there, even as null: an empty body is not "clear".
    resp = await env.client.put(url, headers=env.auth("operator"), json={})
    assert resp.status_code == 422
    # No DELETE on the PIN.
    resp = await env.client.delete(url, headers=env.auth("operator"))
    assert resp.status_code == 405


async def test_credential_status_and_validity(env: ApiEnv) -> None:
    person = await _create_person(env)
    resp = await env.client.post(
        f"/api/v1/people/{person['id']}/credentials",
        headers=env.auth("operator"),
        json={"card": "H10301:41:4141"},
    )
    url = f"/api/v1/credentials/{resp.json()['id']}"
    headers = env.auth("operator")
    before = env.last_seq()
    resp = await env.client.patch(
        url, headers=headers, json={"valid_from": "2026-01-01T00:00:00Z", "status": "disabled"}
    )
    assert resp.status_code == 200
    assert resp.json()["status"] == "disabled"
    [rec] = _operator_records(env, before)
    assert rec.detail["action"] == "credential.update"
    assert rec.detail["changes"]["status"] == {"from": "enabled", "to": "disabled"}
    assert rec.detail["changes"]["card"] == "H10301:…141"
    # valid_to before the stored valid_from
    resp = await env.client.patch(url, headers=headers, json={"valid_to": "2025-01-01T00:00:00Z"})
    assert resp.status_code == 422
    resp = await env.client.patch(url, headers=headers, json={"status": "lost"})
    assert resp.status_code == 200
    resp = await env.client.patch(url, headers=headers, json={"status": "enabled"})
    assert resp.status_code == 409  # a lost card is never used again
    resp = await env.client.patch(url, headers=headers, json={"status": "stolen"})
    assert resp.status_code == 200
    resp = await env.client.patch(url, headers=headers, json={"status": None})
    assert resp.status_code == 422
    resp = await env.client.patch(url, headers=headers, json={"number": 5})
    assert resp.status_code == 422
    resp = await env.client.get(url, headers=env.auth("chief"))
    assert resp.json()["status"] == "stolen"
    resp = await env.client.get("/api/v1/credentials/nope", headers=env.auth("chief"))
    assert resp.status_code == 404
