"""``GET /api/v1/health``: liveness for load balancers; says nothing about the site (4-8-7(2))."""

from __future__ import annotations

from fastapi import APIRouter

from api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
def health() -> HealthOut:
    """The API answers; no site name, no layout, no version."""
    return HealthOut()
