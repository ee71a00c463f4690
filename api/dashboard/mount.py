"""Serving the dashboard: ``/`` (the page) and ``/static/...`` with a strict CSP."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR: Final = Path(__file__).parent / "static"

# No inline script or style, no other origin: the page's code is only what this package serves.
CSP: Final = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",  # revalidate (ETag) so that an upgrade is seen at once
}


class DashboardFiles(StaticFiles):
    """Static files with the dashboard's security headers on every file served."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file, as StaticFiles serves it, plus the security headers."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard page at ``/`` and its files at ``/static``."""
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    def dashboard_page() -> FileResponse:
        """The dashboard's single page (a login form until the operator signs in)."""
        return FileResponse(index, media_type="text/html", headers=SECURITY_HEADERS)

    app.mount("/static", DashboardFiles(directory=STATIC_DIR), name="dashboard-static")
