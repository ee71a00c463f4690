"""``GET /api/v1/ui/config``: what the dashboard needs to know after login, and only then."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CoreDep, SettingsDep, require
from api.roles import Permission
from api.schemas import error_responses
from gateway.records import RecordKind

router = APIRouter(prefix="/ui", tags=["ui"])


class UiConfigOut(BaseModel):
    """Site name, time zone and session limits for the page (4-8-6(15), 4-8-7(2))."""

    site_name: str
    timezone: str = Field(description="IANA zone in which the page shows times")
    idle_logoff_minutes: float = Field(description="log off after this long without activity")
    access_token_minutes: int = Field(description="lifetime of a token; refreshed before expiry")
    record_kinds: list[str] = Field(description="every kind of record, for the feed's filter")


@router.get(
    "/config",
    response_model=UiConfigOut,
    dependencies=[require(Permission.AUTH_SESSION)],
    responses=error_responses(401, 403),
)
def ui_config(settings: SettingsDep, core: CoreDep) -> UiConfigOut:
    """The dashboard's settings for the signed-in caller."""
    site = core.site().site
    return UiConfigOut(
        site_name=site.name,
        timezone=site.timezone,
        idle_logoff_minutes=settings.idle_logoff_minutes,
        access_token_minutes=settings.access_token_minutes,
        record_kinds=[kind.value for kind in RecordKind],
    )
