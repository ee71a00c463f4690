"""Operator accounts: listed by admin and chief, created and changed by admin only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status
from sqlmodel import col, select

from api.accounts import (
    DuplicateUsername,
    InvalidAccount,
    create_account,
    set_password,
)
from api.audit import stage_action, write_staged
from api.deps import CoreDep, IdPath, SessionDep, require
from api.errors import conflict, forbidden, invalid, not_found
from api.roles import Permission
from api.schemas import AccountCreate, AccountOut, PasswordIn, error_responses
from gateway.storage.models import Account

router = APIRouter(prefix="/accounts", tags=["accounts"])

Reader = Annotated[Account, require(Permission.ACCOUNTS_READ)]
Writer = Annotated[Account, require(Permission.ACCOUNTS_WRITE)]


def _load(session: SessionDep, site_id: str, account_id: str) -> Account:
    """The site's account with this id, or 404."""
    account = session.get(Account, account_id)
    if account is None or account.site_id != site_id:
        raise not_found("account")
    return account


@router.get("", response_model=list[AccountOut], responses=error_responses(401, 403))
def list_accounts(caller: Reader, session: SessionDep) -> list[AccountOut]:
    """Every account of the site, by username."""
    stmt = select(Account).where(Account.site_id == caller.site_id).order_by(col(Account.username))
    return [AccountOut.of(a) for a in session.exec(stmt)]


@router.post(
    "",
    response_model=AccountOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409),
)
def post_account(
    body: AccountCreate, caller: Writer, session: SessionDep, core: CoreDep
) -> AccountOut:
    """Create an account; an admin cannot create one for its own person (4-8-6(6))."""
    if body.person_id is not None and body.person_id == caller.person_id:
        raise forbidden("An account cannot be created for the caller's own person")
    site = core.site()

    def stage(account: Account) -> None:
        """Stage the record in the account's own transaction."""
        stage_action(
            session,
            site_id=caller.site_id,
            actor=caller.username,
            action="account.create",
            target=account.id,
            changes={
                "username": account.username,
                "role": account.role,
                "zones": account.zones,
                "person_id": account.person_id,
            },
        )

    try:
        account = create_account(
            session,
            caller.site_id,
            body.username,
            body.password,
            body.role,
            zones=body.zones,
            person_id=body.person_id,
            created_by=caller.username,
            display_name=body.display_name,
            known_zones={z.id for z in site.zones},
            before_commit=stage,
        )
    except InvalidAccount as exc:
        raise invalid(("body", exc.field), exc.message) from None
    except DuplicateUsername:
        raise conflict("Username is taken") from None
    write_staged(session, core)
    return AccountOut.of(account)


def _set_enabled(
    account_id: str, caller: Account, session: SessionDep, core: CoreDep, *, enabled: bool
) -> AccountOut:
    """Enable or disable an account, recording the change if there is one."""
    account = _load(session, caller.site_id, account_id)
    if account.id == caller.id and not enabled:
        raise conflict("An account cannot disable itself")
    if account.enabled != enabled:
        account.enabled = enabled
        session.add(account)
        stage_action(
            session,
            site_id=caller.site_id,
            actor=caller.username,
            action="account.enable" if enabled else "account.disable",
            target=account.id,
            changes={"enabled": enabled},
        )
        session.commit()
        write_staged(session, core)
    return AccountOut.of(account)


@router.post(
    "/{account_id}/disable",
    response_model=AccountOut,
    responses=error_responses(401, 403, 404, 409),
)
def disable_account(
    account_id: IdPath, caller: Writer, session: SessionDep, core: CoreDep
) -> AccountOut:
    """Disable an account; its tokens stop working at once."""
    return _set_enabled(account_id, caller, session, core, enabled=False)


@router.post(
    "/{account_id}/enable", response_model=AccountOut, responses=error_responses(401, 403, 404)
)
def enable_account(
    account_id: IdPath, caller: Writer, session: SessionDep, core: CoreDep
) -> AccountOut:
    """Enable a disabled account again."""
    return _set_enabled(account_id, caller, session, core, enabled=True)


@router.post(
    "/{account_id}/password",
    response_model=AccountOut,
    responses=error_responses(401, 403, 404),
)
def reset_password(
    account_id: IdPath,
    body: PasswordIn,
    caller: Writer,
    session: SessionDep,
    core: CoreDep,
) -> AccountOut:
    """Set a new password (recorded, without the password); older tokens stop working."""
    account = _load(session, caller.site_id, account_id)

    def stage(account: Account) -> None:
        """Stage the record in the account's own transaction."""
        stage_action(
            session,
            site_id=caller.site_id,
            actor=caller.username,
            action="account.password_reset",
            target=account.id,
            changes={"password": "reset"},
        )

    try:
        set_password(session, account, body.password, before_commit=stage)
    except InvalidAccount as exc:
        raise invalid(("body", exc.field), exc.message) from None
    write_staged(session, core)
    return AccountOut.of(account)
