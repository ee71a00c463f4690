"""The site file's ``audit:`` section: checkpoints, export alerts, retention, analysis."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_KIND = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)?$")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
AnalysisPeriod = Literal["daily", "weekly", "monthly"]


class _Strict(BaseModel):
    """Unknown keys are an error, values immutable (as in every site-file section)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _clock(value: str) -> str:
    """``value`` if it is HH:MM."""
    if not _CLOCK.match(value):
        raise ValueError(f"{value!r} is not HH:MM")
    return value


class RetentionConfig(_Strict):
    """How long records keep their personal fields, per record kind (4-8-6(3))."""

    days: int = Field(default=1095, ge=1, le=36500)  # every kind not listed: 3 years
    kinds: dict[str, int] = Field(default_factory=dict)  # record kind -> days
    approved_by: str | None = Field(default=None, max_length=64)  # chief who approved it
    purge_at: str = "03:30"  # site-local time of the daily scheduled purge

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, kinds: dict[str, int]) -> dict[str, int]:
        for kind, days in kinds.items():
            if not _KIND.match(kind):
                raise ValueError(f"{kind!r} is not a record kind (e.g. access.decision)")
            if kind.startswith("audit."):
                raise ValueError(f"{kind}: the log's own audit records are never purged")
            if not 1 <= days <= 36500:
                raise ValueError(f"{kind}: days must be 1-36500")
        return kinds

    @field_validator("purge_at")
    @classmethod
    def _purge_at(cls, value: str) -> str:
        return _clock(value)

    def days_for(self, kind: str) -> int:
        """Retention in days of records of ``kind``."""
        return self.kinds.get(kind, self.days)


def _all_periods() -> list[AnalysisPeriod]:
    """Every report period."""
    return ["daily", "weekly", "monthly"]


class AnalysisConfig(_Strict):
    """Periodic analysis of the records (4-8-6(3)): which reports, when, against which hours."""

    periods: list[AnalysisPeriod] = Field(default_factory=_all_periods)
    run_at: str = "02:00"  # site-local time the reports of the periods just ended are made
    business_hours: _Ident | None = None  # schedule id; default Mon-Fri 08:00-18:00
    seq_limit: int = Field(default=1000, ge=1, le=100_000)  # seqs listed per finding

    @field_validator("run_at")
    @classmethod
    def _run_at(cls, value: str) -> str:
        return _clock(value)


class AuditConfig(_Strict):
    """Tamper evidence, exports, retention and analysis of the record log (4-8-6(3)-(5))."""

    origin: str | None = Field(default=None, pattern=r"^[^\s+]{1,200}$")  # default sekisho/<site>
    checkpoint_key: str = "keys/checkpoint.key"  # relative to the site file's folder
    checkpoint_every_records: int = Field(default=1000, ge=1, le=10_000_000)
    checkpoint_every_s: float = Field(default=60.0, gt=0, le=86_400)
    export_alert_rows: int = Field(default=10_000, ge=1)  # an export or query above: alert
    retention: RetentionConfig = RetentionConfig()
    analysis: AnalysisConfig = AnalysisConfig()

    def origin_for(self, site_id: str) -> str:
        """The log's name in its checkpoints (and its key's name)."""
        return self.origin or f"sekisho/{site_id}"

    def check_references(self, schedules: set[str]) -> None:
        """ValueError (path first) when the section names a schedule the site lacks."""
        hours = self.analysis.business_hours
        if hours is not None and hours not in schedules:
            raise ValueError(f"audit.analysis.business_hours: unknown schedule {hours!r}")
