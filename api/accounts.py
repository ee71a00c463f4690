"""Operator accounts: creation and password changes, shared by the API and ``sekisho admin``."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.roles import Role, parse_role
from gateway.hashing import hash_secret
from gateway.storage.models import Account, Person

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{2,63}$")
PASSWORD_MIN = 12
PASSWORD_MAX = 256  # bounds the cost of hashing what a client sends
_ZONE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class AccountError(ValueError):
    """An account cannot be created or changed as asked."""


class InvalidAccount(AccountError):
    """One field of an account is not acceptable; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        """Name the field and what is wrong with it."""
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class DuplicateUsername(AccountError):
    """The site already has an account with this username."""

    def __init__(self, username: str) -> None:
        """Name the username that is taken."""
        self.username = username
        super().__init__(f"username {username!r} is taken")


def validate_username(username: str) -> str:
    """Return ``username`` if it is 3-64 of a-z 0-9 . _ @ - (starting alphanumeric)."""
    if not USERNAME_RE.fullmatch(username):
        raise InvalidAccount(
            "username", "3-64 characters of a-z, 0-9, '.', '_', '@', '-', starting with a-z or 0-9"
        )
    return username


def validate_password(password: str) -> str:
    """Return ``password`` if it is 12-256 characters and not all one character."""
    if len(password) < PASSWORD_MIN:
        raise InvalidAccount("password", f"must be at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise InvalidAccount("password", f"must be at most {PASSWORD_MAX} characters")
    if len(set(password)) < 2:
        raise InvalidAccount("password", "must not repeat a single character")
    return password


def validate_zones(
    role: Role, zones: Iterable[str], known_zones: Collection[str] | None
) -> list[str]:
    """Zones an account may manage: only managers have any; each must be a zone id."""
    out: list[str] = []
    for zone in zones:
        if not _ZONE_RE.fullmatch(zone):
            raise InvalidAccount("zones", f"{zone!r} is not a zone id")
        if known_zones is not None and zone not in known_zones:
            raise InvalidAccount("zones", f"unknown zone {zone!r}")
        if zone not in out:
            out.append(zone)
    if out and role is not Role.MANAGER:
        raise InvalidAccount("zones", "only a manager account has zones")
    return out


def find_account(session: Session, site_id: str, username: str) -> Account | None:
    """The site's account with this username, if any."""
    stmt = select(Account).where(Account.site_id == site_id, Account.username == username)
    return session.exec(stmt).first()


def create_account(
    session: Session,
    site_id: str,
    username: str,
    password: str,
    role: str,
    *,
    zones: Iterable[str] = (),
    person_id: str | None = None,
    created_by: str | None = None,
    display_name: str = "",
    known_zones: Collection[str] | None = None,
    before_commit: Callable[[Account], object] | None = None,
) -> Account:
    """Validate, hash the password (argon2id) and store a new account; commits.

    ``before_commit`` is called with the new account just before the commit, to add to the
    same transaction (the API stages its record). Raises InvalidAccount naming the bad field,
    or DuplicateUsername.
    """
    validate_username(username)
    validate_password(password)
    parsed = parse_role(role)
    if parsed is None:
        raise InvalidAccount("role", f"one of {', '.join(r.value for r in Role)}")
    zone_list = validate_zones(parsed, zones, known_zones)
    if len(display_name) > 200:
        raise InvalidAccount("display_name", "must be at most 200 characters")
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None or person.site_id != site_id:
            raise InvalidAccount("person_id", "no such person")
    if find_account(session, site_id, username) is not None:
        raise DuplicateUsername(username)
    account = Account(
        site_id=site_id,
        username=username,
        display_name=display_name,
        role=parsed.value,
        person_id=person_id,
        zones=zone_list,
        password_hash=hash_secret(password),
        created_by=created_by,
    )
    session.add(account)
    if before_commit is not None:
        before_commit(account)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise DuplicateUsername(username) from None  # lost a race with another create
    session.refresh(account)
    return account


def set_password(
    session: Session,
    account: Account,
    password: str,
    *,
    before_commit: Callable[[Account], object] | None = None,
) -> None:
    """Replace an account's password (validated, hashed); commits (``before_commit`` first)."""
    validate_password(password)
    account.password_hash = hash_secret(password)
    session.add(account)
    if before_commit is not None:
        before_commit(account)
    session.commit()
    session.refresh(account)
