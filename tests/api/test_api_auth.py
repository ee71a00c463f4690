"""Login, lock-out, refresh and token life (OAuth2 password flow; 4-8-7(3), 4-8-6(6))."""

from __future__ import annotations

import logging
from datetime import timedelta

import jwt
import pytest

from api.security import decode_token, issue_token
from gateway.clock import utcnow
from gateway.records import NewRecord, RecordKind
from tests.api.api_env import PASSWORD, ApiEnv

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_login_returns_a_short_lived_token_with_the_claims(env: ApiEnv) -> None:
    before = env.last_seq()
    resp = await env.login("operator")
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == env.settings.access_token_minutes * 60
    claims = jwt.decode(
        body["access_token"], env.settings.secret_key.get_secret_value(), algorithms=["HS256"]
    )
    assert claims["sub"] == env.accounts["operator"].id
    assert claims["role"] == "operator"
    assert {"exp", "iat", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == env.settings.access_token_minutes * 60
    logins = env.records(before, RecordKind.LOGIN.value)
    assert [r.actor for r in logins] == ["operator"]
    assert PASSWORD not in str(logins[0].detail)


async def test_me_tells_the_account_and_its_permissions(env: ApiEnv) -> None:
    resp = await env.client.get("/api/v1/auth/me", headers=env.auth("manager"))
    assert resp.status_code == 200
    me = resp.json()
    assert me["username"] == "manager"
    assert me["zones"] == ["srv"]
    assert me["person_id"] == env.people["manager"]
    assert "authorizations:write" in me["permissions"]
    assert "password_hash" not in me
    admin = (await env.client.get("/api/v1/auth/me", headers=env.auth("admin"))).json()
    assert "events:read" not in admin["permissions"]
    assert "authorizations:write" not in admin["permissions"]


async def test_refresh_gives_a_new_valid_token(env: ApiEnv) -> None:
    resp = await env.client.post("/api/v1/auth/refresh", headers=env.auth("auditor"))
    assert resp.status_code == 200
    new = resp.json()["access_token"]
    assert new != env.tokens["auditor"]
    me = await env.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {new}"})
    assert me.json()["username"] == "auditor"


async def test_refresh_refuses_an_expired_token(env: ApiEnv) -> None:
    account = env.accounts["chief"]
    expired = issue_token(
        key=env.settings.secret_key.get_secret_value(),
        account_id=account.id,
        role=account.role,
        password_hash=account.password_hash,
        minutes=-1,
    ).token
    resp = await env.client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {expired}"}
    )
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"


async def test_a_token_signed_with_another_key_is_refused(env: ApiEnv) -> None:
    account = env.accounts["chief"]
    forged = issue_token(
        key="another-key-another-key-another-key-0123456789",
        account_id=account.id,
        role="chief",
        password_hash=account.password_hash,
        minutes=5,
    ).token
    resp = await env.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401


async def test_an_unsigned_token_is_refused(env: ApiEnv) -> None:
    good = decode_token(env.tokens["chief"], key=env.settings.secret_key.get_secret_value())
    payload = {
        "sub": good.account_id,
        "role": "chief",
        "exp": 9_999_999_999,
        "iat": 0,
        "jti": "x",
        "pwv": good.password_version,
    }
    unsigned = jwt.encode(payload, key=None, algorithm="none")
    resp = await env.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert resp.status_code == 401


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "Bearer x"])
async def test_malformed_tokens_are_401_not_500(env: ApiEnv, token: str) -> None:
    resp = await env.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401


async def test_disabling_an_account_kills_its_tokens_and_its_logins(env: ApiEnv) -> None:
    env.add_account("leaver", "operator")
    token = await env.token_for("leaver")
    leaver = {"Authorization": f"Bearer {token}"}
    assert (await env.client.get("/api/v1/doors", headers=leaver)).status_code == 200
    account_id = (await env.client.get("/api/v1/auth/me", headers=leaver)).json()["id"]
    resp = await env.client.post(
        f"/api/v1/accounts/{account_id}/disable", headers=env.auth("admin")
    )
    assert resp.status_code == 200
    assert resp.json()["enabled"] is False
    assert (await env.client.get("/api/v1/doors", headers=leaver)).status_code == 401
    assert (await env.client.post("/api/v1/auth/refresh", headers=leaver)).status_code == 401
    before = env.last_seq()
    assert (await env.login("leaver")).status_code == 401
    [failed] = env.records(before, RecordKind.LOGIN_FAILED.value)
    assert failed.reason == "account_disabled"
    resp = await env.client.post(f"/api/v1/accounts/{account_id}/enable", headers=env.auth("admin"))
    assert resp.json()["enabled"] is True
    assert (await env.login("leaver")).status_code == 200


async def test_password_reset_is_recorded_and_kills_older_tokens(env: ApiEnv) -> None:
    env.add_account("forgetful", "auditor")
    old = {"Authorization": f"Bearer {await env.token_for('forgetful')}"}
    account_id = (await env.client.get("/api/v1/auth/me", headers=old)).json()["id"]
    new_password = "a whole new passphrase 42"
    before = env.last_seq()
    resp = await env.client.post(
        f"/api/v1/accounts/{account_id}/password",
        headers=env.auth("admin"),
        json={"password": new_password},
    )
    assert resp.status_code == 200
    assert "password" not in resp.text
    [rec] = env.records(before, RecordKind.OPERATOR.value)
    assert rec.actor == "admin"
    assert rec.detail["action"] == "account.password_reset"
    assert new_password not in str(rec.detail)
    assert (await env.client.get("/api/v1/auth/me", headers=old)).status_code == 401
    assert (await env.login("forgetful")).status_code == 401
    assert (await env.login("forgetful", new_password)).status_code == 200


async def test_failed_logins_are_recorded_without_the_password(
    env: ApiEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = env.last_seq()
    wrong = "not-the-password-123"
    unknown = await env.login("nobody-here", wrong)
    bad = await env.login("auditor", wrong)
    assert unknown.status_code == bad.status_code == 401
    assert unknown.json() == bad.json()  # no username oracle
    records = env.records(before, RecordKind.LOGIN_FAILED.value)
    assert [(r.actor, r.reason) for r in records] == [
        ("nobody-here", "unknown_account"),
        ("auditor", "bad_password"),
    ]
    for rec in records:
        assert wrong not in str(rec.detail)
    assert wrong not in caplog.text


async def test_lockout_after_max_failures_answers_the_same_401(env: ApiEnv) -> None:
    env.add_account("clumsy", "operator")
    for _ in range(env.settings.login_max_failures):
        assert (await env.login("clumsy", "wrong password!!")).status_code == 401
    before = env.last_seq()
    refused = await env.login("clumsy")  # the right password, but locked
    assert refused.status_code == 401
    assert refused.json() == (await env.login("clumsy", "wrong again!!")).json()
    reasons = [r.reason for r in env.records(before, RecordKind.LOGIN_FAILED.value)]
    assert reasons == ["locked_out", "locked_out"]
    # Another username is not affected.
    assert (await env.login("operator")).status_code == 200


async def test_unknown_usernames_lock_too(env: ApiEnv) -> None:
    for _ in range(env.settings.login_max_failures):
        await env.login("ghost-user", "whatever-pass")
    before = env.last_seq()
    await env.login("ghost-user", "whatever-pass")
    [rec] = env.records(before, RecordKind.LOGIN_FAILED.value)
    assert rec.reason == "locked_out"


async def test_lockout_ends_when_the_failures_are_older_than_the_window(env: ApiEnv) -> None:
    env.add_account("patient", "operator")
    window = timedelta(minutes=env.settings.login_lockout_minutes)
    # Failures that happened just outside the window (written as the core writes them).
    for _ in range(env.settings.login_max_failures):
        rec = NewRecord(
            RecordKind.LOGIN_FAILED,
            utcnow() - window - timedelta(seconds=5),
            actor="patient",
            reason="bad_password",
        )
        await env.gateway.record(rec)
    assert (await env.login("patient")).status_code == 200
    # The same failures inside the window lock the account.
    for _ in range(env.settings.login_max_failures):
        rec = NewRecord(
            RecordKind.LOGIN_FAILED,
            utcnow() - window + timedelta(minutes=1),
            actor="patient",
            reason="bad_password",
        )
        await env.gateway.record(rec)
    assert (await env.login("patient")).status_code == 401


async def test_a_success_resets_the_failure_count(env: ApiEnv) -> None:
    env.add_account("typo-prone", "operator")
    for _ in range(env.settings.login_max_failures - 1):
        await env.login("typo-prone", "wrong password!!")
    assert (await env.login("typo-prone")).status_code == 200
    for _ in range(env.settings.login_max_failures - 1):
        await env.login("typo-prone", "wrong password!!")
    assert (await env.login("typo-prone")).status_code == 200


@pytest.mark.parametrize(
    "username",
    ["x" * 500, "nul\x00byte", "tab\tname", "UPPER", "", "😀emoji"],
)
async def test_odd_usernames_are_refused_and_recorded_safely(env: ApiEnv, username: str) -> None:
    before = env.last_seq()
    resp = await env.client.post(
        "/api/v1/auth/token", data={"username": username, "password": "whatever-pass"}
    )
    assert resp.status_code in (401, 422)
    if resp.status_code == 401:
        [rec] = env.records(before, RecordKind.LOGIN_FAILED.value)
        assert rec.actor is not None
        assert len(rec.actor) <= 64
        assert "\x00" not in rec.actor


async def test_health_is_public_and_says_nothing_else(env: ApiEnv) -> None:
    resp = await env.client.get("/api/v1/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    assert "hq" not in resp.text
    assert "Head office" not in resp.text
