"""Settings come from SEKISHO_* and refuse missing, short or well-known secrets."""

from __future__ import annotations

import secrets

import pytest
from pydantic import ValidationError

from api.settings import Settings


def test_the_secret_key_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEKISHO_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="secret_key"):
        Settings()


@pytest.mark.parametrize(
    "key",
    [
        "changethis",
        "secret",
        "changeme",
        "changethis" * 4,
        "my-super-secret-key-for-sekisho-production",
        "ChangeMe-ChangeMe-ChangeMe-ChangeMe!",
        "a" * 64,
        "abababababababababababababababab",
        "too-short-but-random-Xq7",
    ],
)
def test_weak_keys_are_refused_with_a_clear_message(key: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(secret_key=key)
    message = str(info.value)
    assert "SEKISHO_SECRET_KEY" in message
    assert "secrets.token_urlsafe" in message
    assert key not in message or len(key) < 12  # the key itself is not echoed back


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = secrets.token_urlsafe(48)
    monkeypatch.setenv("SEKISHO_SECRET_KEY", key)
    monkeypatch.setenv("SEKISHO_ACCESS_TOKEN_MINUTES", "5")
    monkeypatch.setenv("SEKISHO_PAGE_LIMIT_MAX", "50")
    settings = Settings()
    assert settings.secret_key.get_secret_value() == key
    assert settings.access_token_minutes == 5
    assert settings.page_limit_max == 50
    assert settings.login_max_failures == 5
    assert settings.login_lockout_minutes == 15
    assert key not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [("access_token_minutes", 0), ("login_max_failures", 0), ("page_limit_max", 0)],
)
def test_nonsense_limits_are_refused(name: str, value: int) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(secret_key=secrets.token_urlsafe(48), **{name: value})
