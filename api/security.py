"""Access tokens (JWT, HS256) and password checks for the OAuth2 password flow."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt

from gateway.hashing import hash_secret, verify_secret

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "role", "exp", "iat", "jti", "pwv"]


class TokenError(Exception):
    """A bearer token is missing a claim, badly signed, malformed or expired."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid access token says."""

    account_id: str
    role: str
    issued_at: datetime
    expires_at: datetime
    token_id: str
    password_version: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly signed token and how long it lives."""

    token: str
    expires_in_s: int


def password_version(password_hash: str) -> str:
    """A short fingerprint of the stored hash: a password reset invalidates older tokens."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def issue_token(
    *, key: str, account_id: str, role: str, password_hash: str, minutes: int
) -> IssuedToken:
    """Sign a short-lived access token for an account."""
    now = datetime.now(UTC)
    claims = {
        "sub": account_id,
        "role": role,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": secrets.token_hex(16),
        "pwv": password_version(password_hash),
    }
    return IssuedToken(jwt.encode(claims, key, algorithm=ALGORITHM), minutes * 60)


def decode_token(token: str, *, key: str) -> TokenClaims:
    """Verify a token's signature and lifetime; raise TokenError on anything wrong."""
    try:
        payload = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": _REQUIRED_CLAIMS}
        )
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from exc
    fields = ("sub", "role", "jti", "pwv")
    if not all(isinstance(payload.get(f), str) for f in fields):
        raise TokenError("token claims have the wrong types")
    try:
        issued = datetime.fromtimestamp(payload["iat"], UTC)
        expires = datetime.fromtimestamp(payload["exp"], UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise TokenError("token times are not timestamps") from exc
    return TokenClaims(
        account_id=payload["sub"],
        role=payload["role"],
        issued_at=issued,
        expires_at=expires,
        token_id=payload["jti"],
        password_version=payload["pwv"],
    )


@cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows: checked when the username is unknown, to take as long."""
    return hash_secret(secrets.token_urlsafe(32))


def check_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no stored hash, burn the same time and say False."""
    if stored_hash is None:
        verify_secret(_dummy_hash(), password)
        return False
    return verify_secret(stored_hash, password)
