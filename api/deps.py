"""Dependencies: settings, database session, core, the caller's account and permissions.

Every /api/v1 route except the token endpoint and health declares exactly one permission with
``require(P)``; ``api.app.create_app`` refuses to build an app where one does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlmodel import Session

from api.core_bridge import CoreBridge
from api.errors import forbidden, invalid, unauthorized
from api.roles import Permission, is_allowed
from api.security import TokenError, decode_token, password_version
from api.settings import Settings
from gateway.storage.models import Account

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105  (a URL path, not a secret)
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    engine: Engine = request.app.state.engine
    return engine


def get_core(request: Request) -> CoreBridge:
    """The running core, callable from this worker thread."""
    core: CoreBridge = request.app.state.core
    return core


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
CoreDep = Annotated[CoreBridge, Depends(get_core)]


def get_session(engine: EngineDep) -> Iterator[Session]:
    """A session for the request; objects stay readable after commit."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]
IdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="a row id")]


def authenticate(token: str | None, settings: Settings, engine: Engine, site_id: str) -> Account:
    """The enabled account a valid token belongs to; 401 for anything else.

    Uses its own short session, so that a long response (the event stream) holds no
    connection. A token dies with its account's enabled flag, role or password.
    """
    if not token:
        raise unauthorized()
    try:
        claims = decode_token(token, key=settings.secret_key.get_secret_value())
    except TokenError:
        raise unauthorized("Invalid or expired token") from None
    with Session(engine) as session:
        account = session.get(Account, claims.account_id)
    if (
        account is None
        or account.site_id != site_id
        or not account.enabled
        or account.role != claims.role
        or password_version(account.password_hash) != claims.password_version
    ):
        raise unauthorized("Invalid or expired token")
    return account


def current_account(
    token: TokenDep, settings: SettingsDep, engine: EngineDep, core: CoreDep
) -> Account:
    """The caller, from ``Authorization: Bearer``."""
    return authenticate(token, settings, engine, core.site().site.id)


def stream_account(
    token: TokenDep,
    settings: SettingsDep,
    engine: EngineDep,
    core: CoreDep,
    access_token: Annotated[
        str | None,
        Query(max_length=4096, description="for EventSource, which cannot send headers"),
    ] = None,
) -> Account:
    """The caller, from ``Authorization: Bearer`` or ``?access_token=``."""
    return authenticate(token or access_token, settings, engine, core.site().site.id)


CurrentAccount = Annotated[Account, Depends(current_account)]


class Require:
    """Dependency: the caller, who must hold ``permission`` (deny by default)."""

    def __init__(self, permission: Permission) -> None:
        """Require ``permission`` of the caller."""
        self.permission = permission

    def check(self, account: Account) -> Account:
        """Return ``account`` if its role holds the permission, else raise 403."""
        if not is_allowed(account.role, self.permission):
            raise forbidden()
        return account

    def __call__(self, account: CurrentAccount) -> Account:
        """Resolve the caller from the Authorization header and check it."""
        return self.check(account)


class RequireFromStream(Require):
    """Like Require, but the token may also come as ``?access_token=`` (EventSource)."""

    def __call__(self, account: Annotated[Account, Depends(stream_account)]) -> Account:
        """Resolve the caller from the header or the query string and check it."""
        return self.check(account)


def require(permission: Permission, *, token_in_query: bool = False) -> Any:
    """``Depends`` on the caller holding ``permission``; use as ``Annotated[Account, ...]``."""
    dep = RequireFromStream(permission) if token_in_query else Require(permission)
    return Depends(dep)


@dataclass(frozen=True, slots=True)
class Page:
    """Offset paging: which slice of a list to return."""

    offset: int
    limit: int


def check_limit(limit: int, settings: Settings) -> int:
    """``limit`` if it is within ``page_limit_max``; 422 otherwise."""
    if limit > settings.page_limit_max:
        raise invalid(
            ("query", "limit"), f"Input should be less than or equal to {settings.page_limit_max}"
        )
    return limit


def get_page(
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, description="at most page_limit_max")] = 100,
) -> Page:
    """Offset and limit from the query string."""
    return Page(offset, check_limit(limit, settings))


PageDep = Annotated[Page, Depends(get_page)]
