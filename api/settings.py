"""API settings from the environment (prefix ``SEKISHO_``); there is no default secret."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.storage.queries import MAX_LIMIT

# Words that mark a placeholder copied from an example rather than a generated key.
_PLACEHOLDERS = ("changethis", "changeme", "secret", "password", "example", "default", "sekisho")
_MIN_DISTINCT_CHARS = 12
_HOW_TO_GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class Settings(BaseSettings):
    """Everything the API needs to know that is not in the site file."""

    model_config = SettingsConfigDict(
        env_prefix="SEKISHO_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    secret_key: SecretStr = Field(description="HS256 key for access tokens; at least 32 chars")
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    page_limit_max: int = Field(default=1000, ge=1, le=MAX_LIMIT)
    # The dashboard logs itself off after this much inactivity (4-8-6(15)); a float so that
    # tests and demos can use seconds.
    idle_logoff_minutes: float = Field(default=10, gt=0, le=24 * 60)

    @field_validator("secret_key")
    @classmethod
    def _refuse_weak_key(cls, value: SecretStr) -> SecretStr:
        """Refuse short keys, placeholders and keys of few distinct characters."""
        key = value.get_secret_value()
        if len(key) < 32:
            raise ValueError(
                f"SEKISHO_SECRET_KEY must be at least 32 characters; {_HOW_TO_GENERATE}"
            )
        lowered = key.lower()
        for word in _PLACEHOLDERS:
            if word in lowered:
                raise ValueError(
                    f"SEKISHO_SECRET_KEY contains the well-known placeholder {word!r}; "
                    + _HOW_TO_GENERATE
                )
        if len(set(key)) < _MIN_DISTINCT_CHARS:
            raise ValueError(
                f"SEKISHO_SECRET_KEY uses fewer than {_MIN_DISTINCT_CHARS} distinct characters; "
                + _HOW_TO_GENERATE
            )
        return value
