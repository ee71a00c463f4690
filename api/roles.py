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
    CAMERAS_READ = "cameras:read"  # cameras and their health; which pictures a record has
    CAMERAS_VIEW = "cameras:view"  # look at a picture (live, snapshot, clip): each view recorded
    # --- entry rules (issue 3) ---
    ZONES_OCCUPANCY = "zones:occupancy"  # who is inside a zone now
    ZONES_LOCKDOWN = "zones:lockdown"  # lock a zone down and release it
    ZONES_PASSBACK_FORGIVE = "zones:passback-forgive"  # reset a person's anti-passback state
    DOORS_MODE = "doors:mode"  # set a door's mode (ONVIF modes)
    AUTHORIZATIONS_RECERTIFY = "authorizations:recertify"  # a zone manager's periodic review
    RECERTIFICATIONS_READ = "recertifications:read"  # what falls due for recertification
    WORK_ORDERS_READ = "work-orders:read"
    WORK_ORDERS_REQUEST = "work-orders:request"  # ask for an entry purpose (用件)
    WORK_ORDERS_DECIDE = "work-orders:decide"  # approve or reject a request
    WORK_ORDERS_CANCEL = "work-orders:cancel"
    TRAINING_WRITE = "training:write"  # record a completed training (4-8-3)

    # --- visitors, contractors, media custody (issue 5) ---
    VISITS_READ = "visits:read"  # visits and the visitor log
    VISITS_REGISTER = "visits:register"  # pre-register (for a host) or cancel a visit
    VISITS_APPROVE = "visits:approve"  # a zone's manager approves or rejects a visit
    VISITS_DESK = "visits:desk"  # check visitors in and out at the desk
    CONTRACTORS_READ = "contractors:read"
    CONTRACTORS_WRITE = "contractors:write"  # contract, confidentiality clause, inspections
    MEDIA_READ = "media:read"  # registry, ledger, requests, inspections, inventories
    MEDIA_REGISTER = "media:register"  # register items; file and cancel carry-in/out requests
    MEDIA_APPROVE = "media:approve"  # a zone's manager approves or rejects a request
    MEDIA_DESK = "media:desk"  # inspections at the door and second-person confirmations
    MEDIA_INVENTORY = "media:inventory"  # vault inventories: start, scan, complete
    MEDIA_DISPOSE = "media:dispose"  # record a disposal with its evidence


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
    # Camera pictures are personal data (4-8-6(10)): the protection roles and the auditor see
    # them, every view recorded; the admin configures cameras but sees no picture (4-8-6(6)).
    Permission.CAMERAS_READ: _ALL_BUT_ADMIN,
    Permission.CAMERAS_VIEW: _ALL_BUT_ADMIN,
    # --- entry rules (issue 3; 4-8-7(1)(3), 4-8-3, 4-8-6(6), 4-8-11(2)) ---
    # The desk watches occupancy; the auditor reads it (4-8-12(1)); the admin sees no people.
    Permission.ZONES_OCCUPANCY: _ALL_BUT_ADMIN,
    # Containment from the desk (4-8-11(2)): exactly the roles issue 3 names.
    Permission.ZONES_LOCKDOWN: frozenset({Role.CHIEF, Role.MANAGER, Role.OPERATOR}),
    Permission.DOORS_MODE: frozenset({Role.CHIEF, Role.MANAGER, Role.OPERATOR}),
    Permission.ZONES_PASSBACK_FORGIVE: frozenset({Role.MANAGER, Role.OPERATOR}),
    # The zone's manager reviews access to it (4-8-7(3)); narrowed per request to their own
    # zones and to people other than themselves (4-8-6(6)).
    Permission.AUTHORIZATIONS_RECERTIFY: frozenset({Role.MANAGER}),
    # Managers see their own zones; the chief and the auditor see every zone.
    Permission.RECERTIFICATIONS_READ: frozenset({Role.CHIEF, Role.MANAGER, Role.AUDITOR}),
    # 用件の確認 (4-8-7(1)): the desk or a manager asks, another manager of the zone decides
    # (approvals name a person other than the requester, 4-8-6(6)); the requester or a manager
    # of the zone cancels.
    Permission.WORK_ORDERS_READ: _ALL_BUT_ADMIN,
    Permission.WORK_ORDERS_REQUEST: frozenset({Role.MANAGER, Role.OPERATOR}),
    Permission.WORK_ORDERS_DECIDE: frozenset({Role.MANAGER}),
    Permission.WORK_ORDERS_CANCEL: frozenset({Role.MANAGER, Role.OPERATOR}),
    # The chief owns training (4-8-2, 4-8-3); managers record it for their staff.
    Permission.TRAINING_WRITE: frozenset({Role.CHIEF, Role.MANAGER}),
    # --- visitors, contractors, media custody (issue 5; 4-8-7(1), 4-8-5, 4-8-9, 4-8-12(2)) ---
    # The desk runs check-in/out, door inspections and inventory scans (保護担当者); the
    # zone's manager approves visits and carry-in/out, never their own (4-8-6(6)); the
    # auditor and the chief read; the admin has no access to any of it.
    Permission.VISITS_READ: _ALL_BUT_ADMIN,
    Permission.VISITS_REGISTER: frozenset({Role.MANAGER, Role.OPERATOR}),
    Permission.VISITS_APPROVE: frozenset({Role.MANAGER}),
    Permission.VISITS_DESK: frozenset({Role.OPERATOR}),
    Permission.CONTRACTORS_READ: _ALL_BUT_ADMIN,
    Permission.CONTRACTORS_WRITE: frozenset({Role.MANAGER}),  # 4-8-9: the manager's contract
    Permission.MEDIA_READ: _ALL_BUT_ADMIN,
    Permission.MEDIA_REGISTER: frozenset({Role.MANAGER, Role.OPERATOR}),
    Permission.MEDIA_APPROVE: frozenset({Role.MANAGER}),
    Permission.MEDIA_DESK: frozenset({Role.OPERATOR}),
    # Managers inspect storage (4-8-12(2) 点検); the desk scans with them.
    Permission.MEDIA_INVENTORY: frozenset({Role.MANAGER, Role.OPERATOR}),
    Permission.MEDIA_DISPOSE: frozenset({Role.MANAGER, Role.OPERATOR}),
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
