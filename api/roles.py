"""Roles (4-8-2) and the declarative table of what each may do; anything not listed is denied."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """An account's role, after the guideline's protection roles (4-8-2 管理体制)."""

    CHIEF = "chief"  # 総括保護管理者: sees everything, approves nothing alone
    MANAGER = "manager"  # 保護管理者 of some zones: grants access to those zones
    OPERATOR = "operator"  # 保護担当者 at the security desk
    AUDITOR = "auditor"  # 監査責任者: read-only over every record
    ADMIN = "admin"  # the appliance's administrator: no right to records or grants (4-8-6(6))


class Permission(StrEnum):
    """One thing a route may do; every /api/v1 route requires exactly one."""

    AUTH_SESSION = "auth:session"  # look at or renew one's own session
    PEOPLE_READ = "people:read"
    PEOPLE_WRITE = "people:write"
    AUTHORIZATIONS_READ = "authorizations:read"
    AUTHORIZATIONS_WRITE = "authorizations:write"
    DOORS_READ = "doors:read"
    DOORS_UNLOCK = "doors:unlock"
    ZONES_READ = "zones:read"
    READERS_READ = "readers:read"
    EVENTS_READ = "events:read"
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_WRITE = "accounts:write"
    AUDIT_READ = "audit:read"  # checkpoints, proofs, queries over every record, analysis
    AUDIT_EXPORT = "audit:export"  # streaming exports (recorded; alert above the threshold)
    ALARMS_READ = "alarms:read"
    ALARMS_ACK = "alarms:ack"  # acknowledge and close alarms
    INCIDENTS_READ = "incidents:read"
    INCIDENTS_WRITE = "incidents:write"  # open, contain, note, legal steps
    INCIDENTS_CLOSE = "incidents:close"  # close with root cause and measures


_ALL = frozenset(Role)
_ALL_BUT_ADMIN = frozenset({Role.CHIEF, Role.MANAGER, Role.OPERATOR, Role.AUDITOR})

PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.AUTH_SESSION: _ALL,
    Permission.PEOPLE_READ: _ALL_BUT_ADMIN,
    Permission.PEOPLE_WRITE: frozenset({Role.MANAGER, Role.OPERATOR}),
    Permission.AUTHORIZATIONS_READ: _ALL_BUT_ADMIN,
    # Managers only, and further narrowed per request to their own zones and to people
    # other than themselves (4-8-7(1), 4-8-6(6)).
    Permission.AUTHORIZATIONS_WRITE: frozenset({Role.MANAGER}),
    Permission.DOORS_READ: _ALL,
    Permission.DOORS_UNLOCK: frozenset({Role.CHIEF, Role.MANAGER, Role.OPERATOR}),
    Permission.ZONES_READ: _ALL,
    Permission.READERS_READ: _ALL,
    Permission.EVENTS_READ: _ALL_BUT_ADMIN,  # 4-8-6(6): the admin has no right to records
    Permission.ACCOUNTS_READ: frozenset({Role.ADMIN, Role.CHIEF}),
    Permission.ACCOUNTS_WRITE: frozenset({Role.ADMIN}),
    # 4-8-12(1): the audit officer audits; the chief sees everything. Read-only either way.
    Permission.AUDIT_READ: frozenset({Role.CHIEF, Role.AUDITOR}),
    Permission.AUDIT_EXPORT: frozenset({Role.CHIEF, Role.AUDITOR}),
    # The desk acknowledges alarms (保護担当者, 4-8-2); managers and the chief may too. The
    # auditor reads them (4-8-12(1)); the admin has no right to records or alarms (4-8-6(6)).
    Permission.ALARMS_READ: _ALL_BUT_ADMIN,
    Permission.ALARMS_ACK: frozenset({Role.CHIEF, Role.MANAGER, Role.OPERATOR}),
    # Whoever notices reports, and the desk records containment and notes (4-8-11(1)-(4));
    # the root cause and recurrence prevention are the managers' and the chief's to settle
    # (4-8-11(5)): only they close, a manager only in their own zones.
    Permission.INCIDENTS_READ: _ALL_BUT_ADMIN,
    Permission.INCIDENTS_WRITE: frozenset({Role.CHIEF, Role.MANAGER, Role.OPERATOR}),
    Permission.INCIDENTS_CLOSE: frozenset({Role.CHIEF, Role.MANAGER}),
}


def parse_role(value: str) -> Role | None:
    """The Role a stored string names, or None for anything unknown (which is then denied)."""
    try:
        return Role(value)
    except ValueError:
        return None


def is_allowed(role: str, permission: Permission) -> bool:
    """True when ``role`` holds ``permission`` in the table; unknown roles hold nothing."""
    parsed = parse_role(role)
    return parsed is not None and parsed in PERMISSIONS.get(permission, frozenset())


def permissions_of(role: str) -> list[Permission]:
    """Every permission ``role`` holds, in table order."""
    return [p for p in Permission if is_allowed(role, p)]
