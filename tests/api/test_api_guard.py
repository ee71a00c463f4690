"""Deny by default: every /api/v1 route declares exactly one permission (4-8-2, 4-8-6(6))."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import PUBLIC_PATHS, UnguardedRoute, api_routes, check_routes_guarded, create_app
from api.deps import require
from api.roles import PERMISSIONS, Permission, Role, is_allowed, permissions_of
from api.security import issue_token
from gateway.config.site import SiteConfig
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from tests.api.api_env import SITE, make_settings


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    """An app around a Gateway that is never started: enough to walk the routes."""
    engine = make_engine(sqlite_path=tmp_path / "walk.db")
    site = SiteConfig.model_validate(SITE)
    yield create_app(settings=make_settings(), engine=engine, core=Gateway(site, engine))
    engine.dispose()


def test_every_route_but_token_and_health_requires_exactly_one_permission(app: FastAPI) -> None:
    routes = api_routes(app)
    assert len(routes) > 20
    for route in routes:
        if route.path in PUBLIC_PATHS:
            assert route.permissions == (), route.path
        else:
            assert len(route.permissions) == 1, route


def test_public_routes_are_only_token_and_health() -> None:
    assert {"/api/v1/auth/token", "/api/v1/health"} == PUBLIC_PATHS


def test_an_unguarded_route_stops_the_app_from_being_built(app: FastAPI) -> None:
    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        """A route someone forgot to guard."""
        return {}

    with pytest.raises(UnguardedRoute, match="forgotten"):
        check_routes_guarded(app)


def test_a_route_with_two_permissions_is_refused_too(app: FastAPI) -> None:
    @app.get(
        "/api/v1/double",
        dependencies=[require(Permission.DOORS_READ), require(Permission.EVENTS_READ)],
    )
    def double() -> dict[str, str]:
        """A route that asks for two permissions."""
        return {}

    with pytest.raises(UnguardedRoute, match="double"):
        check_routes_guarded(app)


def test_no_route_deletes_anything_and_no_route_writes_records(app: FastAPI) -> None:
    for route in api_routes(app):
        assert "DELETE" not in route.methods, route.path
        if route.path.startswith("/api/v1/events"):
            assert route.methods == {"GET"}, route.path  # 4-8-6(4)


def test_the_permission_table_matches_the_brief() -> None:
    chief, manager, operator, auditor, admin = (
        Role.CHIEF,
        Role.MANAGER,
        Role.OPERATOR,
        Role.AUDITOR,
        Role.ADMIN,
    )
    expected = {
        Permission.PEOPLE_READ: {chief, manager, operator, auditor},
        Permission.PEOPLE_WRITE: {manager, operator},
        Permission.AUTHORIZATIONS_READ: {chief, manager, operator, auditor},
        Permission.AUTHORIZATIONS_WRITE: {manager},
        Permission.DOORS_READ: set(Role),
        Permission.DOORS_UNLOCK: {chief, manager, operator},
        Permission.ZONES_READ: set(Role),
        Permission.READERS_READ: set(Role),
        Permission.EVENTS_READ: {chief, manager, operator, auditor},
        Permission.ACCOUNTS_READ: {admin, chief},
        Permission.ACCOUNTS_WRITE: {admin},
        Permission.AUTH_SESSION: set(Role),
        Permission.AUDIT_READ: {chief, auditor},  # 4-8-12(1), issue 4
        Permission.AUDIT_EXPORT: {chief, auditor},  # 4-8-6(5), issue 4
        # issue 3: the server-room rules
        Permission.ZONES_OCCUPANCY: {chief, manager, operator, auditor},
        Permission.ZONES_LOCKDOWN: {chief, manager, operator},  # 4-8-11(2)
        Permission.DOORS_MODE: {chief, manager, operator},
        Permission.ZONES_PASSBACK_FORGIVE: {manager, operator},
        Permission.AUTHORIZATIONS_RECERTIFY: {manager},  # 4-8-7(3), 4-8-6(6)
        Permission.RECERTIFICATIONS_READ: {chief, manager, auditor},
        Permission.WORK_ORDERS_READ: {chief, manager, operator, auditor},
        Permission.WORK_ORDERS_REQUEST: {manager, operator},
        Permission.WORK_ORDERS_DECIDE: {manager},  # 4-8-6(6)
        Permission.WORK_ORDERS_CANCEL: {manager, operator},
        Permission.TRAINING_WRITE: {chief, manager},  # 4-8-3
        Permission.ALARMS_READ: {chief, manager, operator, auditor},  # issue 6
        Permission.ALARMS_ACK: {chief, manager, operator},  # the desk, 4-8-2
        Permission.INCIDENTS_READ: {chief, manager, operator, auditor},  # 4-8-11
        Permission.INCIDENTS_WRITE: {chief, manager, operator},  # 4-8-11(1)-(4)
        Permission.INCIDENTS_CLOSE: {chief, manager},  # 4-8-11(5)
        Permission.CAMERAS_READ: {chief, manager, operator, auditor},  # issue 7
        Permission.CAMERAS_VIEW: {chief, manager, operator, auditor},  # 4-8-6(10), views recorded
        # issue 5: the desk runs visits and inspections, managers approve, admin nothing
        Permission.VISITS_READ: {chief, manager, operator, auditor},
        Permission.VISITS_REGISTER: {manager, operator},
        Permission.VISITS_APPROVE: {manager},  # 4-8-7(1), never their own (4-8-6(6))
        Permission.VISITS_DESK: {operator},
        Permission.CONTRACTORS_READ: {chief, manager, operator, auditor},
        Permission.CONTRACTORS_WRITE: {manager},  # 4-8-9
        Permission.MEDIA_READ: {chief, manager, operator, auditor},
        Permission.MEDIA_REGISTER: {manager, operator},
        Permission.MEDIA_APPROVE: {manager},  # 4-8-5(4)
        Permission.MEDIA_DESK: {operator},  # 4-8-7(1), 4-8-5(7)
        Permission.MEDIA_INVENTORY: {manager, operator},  # 4-8-12(2)
        Permission.MEDIA_DISPOSE: {manager, operator},  # 4-8-5(8)
    }
    assert {p: set(r) for p, r in PERMISSIONS.items()} == expected


def test_admin_has_no_right_to_records_or_grants() -> None:
    # 4-8-6(6): the administrator configures; it neither reads records nor grants access.
    assert not is_allowed("admin", Permission.EVENTS_READ)
    assert not is_allowed("admin", Permission.AUTHORIZATIONS_WRITE)
    assert not is_allowed("admin", Permission.PEOPLE_WRITE)


def test_unknown_roles_hold_nothing() -> None:
    assert permissions_of("root") == []
    assert permissions_of("") == []
    assert not is_allowed("ADMIN", Permission.ACCOUNTS_WRITE)


def test_openapi_documents_every_route_with_a_response_model(app: FastAPI) -> None:
    schema = app.openapi()
    paths = schema["paths"]
    for route in api_routes(app):
        for method in route.methods:
            op = paths[route.path][method.lower()]
            assert op.get("summary") or op.get("description"), route.path
            ok = [c for c in op["responses"] if c.startswith("2")]
            assert ok, route.path
            if route.path not in PUBLIC_PATHS:
                assert "401" in op["responses"] and "403" in op["responses"], route.path
    assert "OAuth2PasswordBearer" in schema["components"]["securitySchemes"]


async def test_a_broken_store_answers_503_and_logs_no_parameters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A store that was never migrated: every query fails inside the driver.
    engine = make_engine(sqlite_path=tmp_path / "unmigrated.db")
    site = SiteConfig.model_validate(SITE)
    settings = make_settings()
    app = create_app(settings=settings, engine=engine, core=Gateway(site, engine))
    token = issue_token(
        key=settings.secret_key.get_secret_value(),
        account_id="a" * 32,
        role="chief",
        password_hash="$argon2id$not-a-real-hash",
        minutes=5,
    ).token
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sekisho.test") as client:
        resp = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    engine.dispose()
    assert resp.status_code == 503
    assert resp.json() == {"detail": "Storage unavailable"}
    assert "a" * 32 not in caplog.text  # the statement's parameters stay out of the log
    assert "OperationalError" in caplog.text
