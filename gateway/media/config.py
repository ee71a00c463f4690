"""Site-file settings of custody: per-zone media rules and the ``custody:`` section.

``zones[].media`` holds a zone's media rules (4-8-5(6)(7), 4-8-12(2)); ``custody:`` holds the
site-wide settings of visitors, media and contractors (4-8-7(1), 4-8-9(3)).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from gateway.visits.config import VisitorsConfig

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class _Strict(BaseModel):
    """Unknown keys are an error, values are immutable (as everywhere in the site file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneMediaPolicy(_Strict):
    """A zone's rules for media brought in, used and taken out."""

    encryption_required: bool = False  # carry-out of an unencrypted item is refused (4-8-5(6))
    second_person_inspection: bool = False  # a second person confirms each inspection (4-8-5(7))
    inventory_every_days: int | None = Field(default=None, ge=1, le=3650)  # 4-8-12(2)
    inventory_grace_days: int = Field(default=0, ge=0, le=365)  # late this long: missed
    scan_readers: list[Ident] = Field(default_factory=list)  # reads here scan inventory tags


class MediaConfig(_Strict):
    """Site-wide media custody settings."""

    # After a person leaves a zone holding a carried-in item, the desk has this long to
    # inspect it out before the unreconciled-exit alarm (the door is never held shut).
    exit_grace_s: float = Field(default=60.0, ge=0, le=3600)


class CustodyConfig(_Strict):
    """Visitors, media and contractors: the periodic checks and their settings."""

    check_every_s: float = Field(default=60.0, gt=0, le=3600)  # overstay, overdue, missed
    visitors: VisitorsConfig = VisitorsConfig()
    media: MediaConfig = MediaConfig()
    contractor_inspection_days: int = Field(default=365, ge=1, le=3650)  # 4-8-9(3): yearly


def check_scan_readers(zones: Iterable[tuple[str, ZoneMediaPolicy]], readers: set[str]) -> None:
    """Raise ValueError naming the first zone whose media scan reader is not a known reader."""
    for i, (_, policy) in enumerate(zones):
        for rid in policy.scan_readers:
            if rid not in readers:
                raise ValueError(f"zones[{i}].media.scan_readers: unknown reader {rid!r}")
