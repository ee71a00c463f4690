"""Bad input from clients gets a typed 4xx answer, never a 500 (nor an echo of a secret)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.api_env import ApiEnv

pytestmark = pytest.mark.asyncio(loop_scope="module")

NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "nul\x00inside",
        "\ud800",  # a lone surrogate: no UTF-8 for it
        "\u202eevil",
        "x" * 5000,
        "H10301:1:1",
        "2030-01-01T00:00:00Z",
        "1234",
        "srv",
        "always",
        "staff",
        "enabled",
        "0" * 32,
        "'; DROP TABLE person; --",
        "%_\\",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**32 - 1, 2**63, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    NASTY_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from(
    [
        "kind",
        "name",
        "organisation",
        "employee_no",
        "enabled",
        "card",
        "format",
        "facility",
        "number",
        "pin",
        "valid_from",
        "valid_to",
        "status",
        "person_id",
        "zone_id",
        "schedule_id",
        "purpose",
        "username",
        "password",
        "role",
        "zones",
        "display_name",
        "note",
        "reason",
    ]
)
BODIES = st.one_of(
    st.dictionaries(KEYS, JSON_VALUES, max_size=6),
    JSON_VALUES,
)

FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def targets(env: ApiEnv) -> dict[str, str]:
    """A person, a credential and an authorization for the fuzzed routes to act on."""
    person = env.add_person("Fuzz Target")
    cred = await env.client.post(
        f"/api/v1/people/{person}/credentials",
        headers=env.auth("operator"),
        json={"card": "H10301:200:2000"},
    )
    grant = await env.client.post(
        "/api/v1/authorizations",
        headers=env.auth("manager"),
        json={"person_id": person, "zone_id": "srv"},
    )
    return {"person": person, "credential": cred.json()["id"], "grant": grant.json()["id"]}


ROUTES = [
    ("POST", "/api/v1/people", "operator"),
    ("PATCH", "/api/v1/people/{person}", "operator"),
    ("POST", "/api/v1/people/{person}/credentials", "operator"),
    ("PATCH", "/api/v1/credentials/{credential}", "operator"),
    ("PUT", "/api/v1/credentials/{credential}/pin", "operator"),
    ("POST", "/api/v1/authorizations", "manager"),
    ("POST", "/api/v1/authorizations/{grant}/revoke", "manager"),
    ("POST", "/api/v1/accounts", "admin"),
    ("POST", "/api/v1/doors/d-vault/unlock", "operator"),
]


@pytest.mark.parametrize(("method", "path", "who"), ROUTES)
@FUZZ_SETTINGS
@given(body=BODIES)
async def test_fuzzed_bodies_never_cause_a_server_error(
    env: ApiEnv, targets: dict[str, str], method: str, path: str, who: str, body: Any
) -> None:
    raw = json.dumps(body, ensure_ascii=True)  # lone surrogates travel as \ud800 escapes
    resp = await env.client.request(
        method,
        path.format(**targets),
        headers={**env.auth(who), "Content-Type": "application/json"},
        content=raw.encode(),
    )
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if resp.status_code == 422:
        for err in resp.json()["detail"]:
            assert set(err) <= {"type", "loc", "msg"}  # the input is never echoed


QUERY_VALUES = st.one_of(st.text(max_size=20), NASTY_TEXT, st.integers().map(str))


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/api/v1/people", ["kind", "q", "enabled", "offset", "limit"]),
        ("/api/v1/authorizations", ["person_id", "zone_id", "active", "limit"]),
        (
            "/api/v1/events",
            ["since", "until", "person_id", "door_id", "kind", "outcome", "before_seq", "limit"],
        ),
    ],
)
@FUZZ_SETTINGS
@given(data=st.data())
async def test_fuzzed_queries_never_cause_a_server_error(
    env: ApiEnv, path: str, names: list[str], data: st.DataObject
) -> None:
    params = data.draw(st.dictionaries(st.sampled_from(names), QUERY_VALUES, max_size=4))
    # Percent-encoded by hand: a lone surrogate goes out as the invalid UTF-8 it would be.
    query = "&".join(f"{k}={quote(v, safe='', errors='surrogatepass')}" for k, v in params.items())
    resp = await env.client.get(f"{path}?{query}", headers=env.auth("chief"))
    assert resp.status_code < 500, (params, resp.status_code, resp.text)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/people/%00",
        "/api/v1/people/" + "a" * 300,
        "/api/v1/credentials/..%2F..%2Fetc",
        "/api/v1/events/99999999999999999999999",
        f"/api/v1/events/{2**62}",
        "/api/v1/events/-5",
        "/api/v1/zones/%F0%9F%98%80",
        "/api/v1/doors/%ED%A0%80",
    ],
)
async def test_odd_paths_are_client_errors(env: ApiEnv, path: str) -> None:
    resp = await env.client.get(path, headers=env.auth("chief"))
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)


async def test_malformed_json_is_422(env: ApiEnv) -> None:
    resp = await env.client.post(
        "/api/v1/people",
        headers={**env.auth("operator"), "Content-Type": "application/json"},
        content=b'{"kind": "staff", "name": ',
    )
    assert resp.status_code == 422


async def test_a_pin_in_a_rejected_body_is_not_echoed(env: ApiEnv, targets: dict[str, str]) -> None:
    resp = await env.client.put(
        f"/api/v1/credentials/{targets['credential']}/pin",
        headers=env.auth("operator"),
        json={"pin": "98765432101"},  # too long for the site's policy
    )
    assert resp.status_code == 422
    assert "98765432101" not in resp.text


@pytest.mark.parametrize(
    "name", ["\x00", "nul\x00inside", "\ud800", "line\nbreak", "x" * 201, "   ", ""]
)
async def test_names_that_storage_cannot_hold_are_422(env: ApiEnv, name: str) -> None:
    raw = json.dumps({"kind": "staff", "name": name}, ensure_ascii=True)
    resp = await env.client.post(
        "/api/v1/people",
        headers={**env.auth("operator"), "Content-Type": "application/json"},
        content=raw.encode(),
    )
    assert resp.status_code == 422, resp.text


async def test_unicode_names_round_trip(env: ApiEnv) -> None:
    name = "山田 太郎 (やまだ) — Ümit 😀"
    resp = await env.client.post(
        "/api/v1/people", headers=env.auth("operator"), json={"kind": "visitor", "name": name}
    )
    assert resp.status_code == 201
    got = await env.client.get(f"/api/v1/people/{resp.json()['id']}", headers=env.auth("chief"))
    assert got.json()["name"] == name
