"""The FastAPI application under /api/v1, built around a running core and a database engine."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, APIRouter, iter_route_contexts
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from api import log_redact
from api.core_bridge import CoreBridge
from api.dashboard import mount_dashboard, ui_config
from api.deps import Require
from api.roles import Permission
from api.routes import (  # issue 4: the auditor's API
    accounts,
    audit,
    audit_analysis,
    audit_export,
    auth,
    authorizations,
    credentials,
    door_modes,
    doors,
    events,
    health,
    occupancy,
    people,
    readers,
    recertification,
    stats,
    stream,
    training,
    work_orders,
    zones,
)
from api.routes import alarms as alarm_routes
from api.routes import contractors as contractor_routes  # issue 5: contractors
from api.routes import incidents as incident_routes
from api.routes import media as media_routes  # issue 5: media custody
from api.routes import visits as visit_routes  # issue 5: visitors
from api.routes.cameras import router as camera_router  # issue 7: cameras and their evidence
from api.settings import Settings
from gateway.alarms.service import AlarmService
from gateway.cameras.service import CameraService
from gateway.core_api import AccessCore
from gateway.custody_stack import CustodyStack
from gateway.incidents.service import IncidentService
from gateway.storage.errors import StorageError

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
# The only routes anyone may call without a token; they reveal nothing of the site (4-8-7(2)).
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/auth/token", f"{API_PREFIX}/health"})


class UnguardedRoute(RuntimeError):
    """An /api/v1 route does not declare exactly one permission."""


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """One HTTP route as served (prefixes applied) and the permissions it requires."""

    path: str
    methods: frozenset[str]
    permissions: tuple[Permission, ...]


def _requirements(dependant: object) -> Iterator[Require]:
    """Every Require in a route's dependency tree."""
    call = getattr(dependant, "call", None)
    if isinstance(call, Require):
        yield call
    for sub in getattr(dependant, "dependencies", None) or []:
        yield from _requirements(sub)


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every /api/v1 route of the app.

    FastAPI 0.16x keeps included routers as branches (``app.routes`` holds no APIRoute for
    them); ``iter_route_contexts`` walks the branches with their prefixes and the dependencies
    added at each level, as the OpenAPI generator does.
    """
    out = []
    for ctx in iter_route_contexts(app.routes):
        if not isinstance(ctx.original_route, APIRoute):
            continue
        path = ctx.path
        if not isinstance(path, str) or not path.startswith(API_PREFIX):
            continue
        permissions = tuple(r.permission for r in _requirements(ctx.dependant))
        out.append(RouteInfo(path, frozenset(ctx.methods or ()), permissions))
    return out


def check_routes_guarded(app: FastAPI) -> None:
    """Raise UnguardedRoute unless every non-public /api/v1 route has exactly one permission."""
    routes = api_routes(app)
    if not routes:
        raise UnguardedRoute("no /api/v1 routes found: the guard cannot see the routes")
    bad = []
    for route in routes:
        if route.path in PUBLIC_PATHS:
            if route.permissions:
                bad.append(f"{route.path} is public but requires {list(route.permissions)}")
        elif len(route.permissions) != 1:
            found = list(route.permissions) or "nothing"
            bad.append(f"{sorted(route.methods)} {route.path} requires {found}")
    if bad:
        raise UnguardedRoute("; ".join(bad))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 without echoing the input back: it may be a password or a PIN."""
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in err.items() if k in ("type", "loc", "msg")} for err in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


# What FastAPI answers (400, undocumented) for a JSON body that is not even UTF-8 text; any
# other malformed JSON gets its 422. Found by the schema fuzzer (issue 9).
_UNPARSEABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own answer, except for a body that is not text: 422, as for any bad JSON."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSEABLE_BODY:
        error = {"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}
        return JSONResponse(status_code=422, content={"detail": [error]})
    if exc.status_code == 405:
        # Starlette names only the methods of the first route that matched the path; a path
        # served by several routes (GET list, POST create) must name them all (RFC 9110 15.5.6).
        allowed = sorted(
            {
                m
                for pattern, methods in request.app.state.allow
                for m in methods
                if pattern.match(request.url.path)
            }
        )
        if allowed:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
    return await http_exception_handler(request, exc)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    """409 for a write that clashed with a constraint the route did not foresee."""
    return JSONResponse(status_code=409, content={"detail": "Conflicts with existing data"})


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    """503 when the store cannot be read or written; the log says why, the client need not."""
    # A SQLAlchemy error's text carries the statement's parameters (card keys, hashes):
    # log the driver's own message instead.
    cause = exc if isinstance(exc, StorageError) else getattr(exc, "orig", None)
    logger.error(
        "storage failure on %s %s: %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        cause if cause is not None else "(no detail)",
    )
    return JSONResponse(status_code=503, content={"detail": "Storage unavailable"})


def create_app(
    *,
    settings: Settings,
    engine: Engine,
    core: AccessCore,
    alarms: AlarmService | None = None,
    incidents: IncidentService | None = None,
    cameras: CameraService | None = None,
    custody: CustodyStack | None = None,
) -> FastAPI:
    """Build the API around the running core; the core must run on the server's event loop.

    ``alarms`` and ``incidents`` (``gateway.alarms.stack.AlarmStack``) run on the same loop;
    without them their routes answer 404 "not configured".
    """
    app = FastAPI(
        title="Sekisho",
        summary="Access-control gateway for server rooms and media vaults",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    log_redact.install()  # the stream takes ?access_token=: keep it out of access logs
    app.state.settings = settings
    app.state.engine = engine
    app.state.core = CoreBridge(core)
    app.state.alarms = alarms
    app.state.incidents = incidents
    app.state.custody = custody  # issue 5: visits, contractors, media; None: 404
    app.state.cameras = cameras  # issue 7: None when the site has no cameras
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(OperationalError, _storage_error)
    api = APIRouter(prefix=API_PREFIX)
    for module in (
        health,
        auth,
        accounts,
        people,
        credentials,
        authorizations,
        zones,
        doors,
        readers,
        events,
        audit,
        audit_export,
        audit_analysis,
        alarm_routes,
        incident_routes,
        occupancy,
        door_modes,
        recertification,
        work_orders,
        training,
        stream,
        stats,
        ui_config,
    ):
        api.include_router(module.router)
    api.include_router(camera_router)
    for custody_routes in (visit_routes, contractor_routes, media_routes):
        api.include_router(custody_routes.router)
    app.include_router(api)
    mount_dashboard(app)  # `/` and `/static`: the page reveals nothing before login
    check_routes_guarded(app)
    app.state.allow = [  # (path pattern, methods) of every route, for the Allow header of a 405
        (compile_path(r.path)[0], r.methods) for r in api_routes(app)
    ]
    return app
