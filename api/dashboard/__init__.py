"""The security-desk dashboard: static ES modules, HTML and CSS served beside the API.

Nothing served here names the site, its zones or its doors: the page learns them only from
authenticated /api/v1 routes after login (4-8-7(2)).
"""

from __future__ import annotations

from api.dashboard.mount import SECURITY_HEADERS, STATIC_DIR, mount_dashboard

__all__ = ["SECURITY_HEADERS", "STATIC_DIR", "mount_dashboard"]
