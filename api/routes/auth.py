"""OAuth2 password flow: log in for a short-lived token, renew it, see who one is."""

from __future__ import annotations

import logging
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.accounts import USERNAME_RE, find_account
from api.deps import CoreDep, SessionDep, SettingsDep, require
from api.errors import unauthorized
from api.lockout import LoginFailure, is_locked
from api.roles import Permission, permissions_of
from api.schemas import MeOut, TokenOut, error_responses
from api.security import check_password, issue_token
from api.settings import Settings
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import Account

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/auth", tags=["auth"])

_LOGIN_REFUSED = "Incorrect username or password"


def recorded_username(username: str) -> str:
    """The username as it goes into a record: printable characters only, at most 64."""
    kept = "".join(c for c in username if unicodedata.category(c) not in ("Cc", "Cs"))
    return kept[:64]


def _token_for(account: Account, settings: Settings) -> TokenOut:
    """A fresh access token for ``account``."""
    issued = issue_token(
        key=settings.secret_key.get_secret_value(),
        account_id=account.id,
        role=account.role,
        password_hash=account.password_hash,
        minutes=settings.access_token_minutes,
    )
    return TokenOut(access_token=issued.token, expires_in=issued.expires_in_s)


@router.post("/token", response_model=TokenOut, responses=error_responses(401))
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    core: CoreDep,
) -> TokenOut:
    """Exchange username and password for a bearer token.

    Every attempt is recorded (LOGIN / LOGIN_FAILED, username as actor, never the password).
    After ``login_max_failures`` failures the username is locked for ``login_lockout_minutes``;
    the answer is the same 401 whatever went wrong, so it tells no one which usernames exist.
    """
    site_id = core.site().site.id
    actor = recorded_username(form.username)
    now = datetime.now(UTC)
    locked = is_locked(
        session,
        site_id,
        actor,
        now=now,
        max_failures=settings.login_max_failures,
        window=timedelta(minutes=settings.login_lockout_minutes),
    )
    valid_name = USERNAME_RE.fullmatch(form.username) is not None
    account = find_account(session, site_id, form.username) if valid_name else None
    # Always verify, so that every refusal takes as long as a wrong password does.
    password_ok = check_password(account.password_hash if account else None, form.password)
    failure: LoginFailure | None = None
    if locked:
        failure = LoginFailure.LOCKED_OUT
    elif not valid_name:
        failure = LoginFailure.INVALID_USERNAME
    elif account is None:
        failure = LoginFailure.UNKNOWN_ACCOUNT
    elif not password_ok:
        failure = LoginFailure.BAD_PASSWORD
    elif not account.enabled:
        failure = LoginFailure.ACCOUNT_DISABLED
    client = request.client.host if request.client else None
    if failure is not None or account is None:
        reason = (failure or LoginFailure.UNKNOWN_ACCOUNT).value
        core.record(
            NewRecord(
                kind=RecordKind.LOGIN_FAILED,
                ts=now,
                actor=actor,
                reason=reason,
                detail={"client": client},
            )
        )
        logger.warning("login refused for %r: %s", actor, reason)
        raise unauthorized(_LOGIN_REFUSED)
    core.record(
        NewRecord(
            kind=RecordKind.LOGIN,
            ts=now,
            actor=actor,
            detail={"account_id": account.id, "role": account.role, "client": client},
        )
    )
    return _token_for(account, settings)


@router.post("/refresh", response_model=TokenOut, responses=error_responses(401, 403))
def refresh(
    account: Annotated[Account, require(Permission.AUTH_SESSION)], settings: SettingsDep
) -> TokenOut:
    """A new token for the holder of a valid one (the account must still be enabled)."""
    return _token_for(account, settings)


@router.get("/me", response_model=MeOut, responses=error_responses(401, 403))
def me(account: Annotated[Account, require(Permission.AUTH_SESSION)]) -> MeOut:
    """The caller's account and its permissions."""
    return MeOut(
        id=account.id,
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        zones=list(account.zones),
        person_id=account.person_id,
        permissions=[p.value for p in permissions_of(account.role)],
    )
