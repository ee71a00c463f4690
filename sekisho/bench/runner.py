"""One benchmark run: which sections at which scale, in order, into one ``Results``."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sekisho.bench.audit import AUDIT_KEYS, run_audit_async
from sekisho.bench.cameras import CAMERA_KEYS, run_cameras
from sekisho.bench.report import Results
from sekisho.bench.scale import BIG_KEYS, SMALL_KEYS, ScaleSettings, run_scale

SECTIONS = ("scale", "audit", "cameras")
SECTION_KEYS = {"scale": SMALL_KEYS + BIG_KEYS, "audit": AUDIT_KEYS, "cameras": CAMERA_KEYS}


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """Everything a run does."""

    mode: str
    scale: ScaleSettings
    audit_records: int
    camera_analysis_s: float
    camera_counts: tuple[int, ...]
    camera_badges: int
    sections: tuple[str, ...] = SECTIONS

    def parameters(self) -> dict[str, object]:
        """For the JSON file."""
        s = self.scale
        return {
            "sections": list(self.sections),
            "doors": s.layout.doors,
            "readers": 2 * s.layout.doors,
            "osdp_buses": s.layout.buses,
            "zones": s.layout.zones,
            "credentials": s.credentials,
            "big_credentials": s.big_credentials,
            "badge_s": s.badge_s,
            "big_badge_s": s.big_badge_s,
            "decisions": s.decisions,
            "inject_per_s": s.inject_per_s,
            "inject_s": s.inject_s,
            "ingest": s.ingest,
            "backlog": s.backlog,
            "retry_backlog": s.retry_backlog,
            "audit_records": self.audit_records,
            "camera_analysis_s": self.camera_analysis_s,
            "camera_counts": list(self.camera_counts),
            "camera_badges": self.camera_badges,
        }


FULL = BenchSettings(
    mode="full",
    scale=ScaleSettings(),
    audit_records=10_000_000,
    camera_analysis_s=5.0,
    camera_counts=(8, 16),
    camera_badges=100,
)
QUICK = BenchSettings(
    mode="quick",
    scale=ScaleSettings(
        big_credentials=500_000,
        badge_s=20.0,
        big_badge_s=0.0,
        decisions=5_000,
        inject_s=5.0,
        ingest=20_000,
        backlog=10_000,
        retry_backlog=2_000,
    ),
    audit_records=1_000_000,
    camera_analysis_s=3.0,
    camera_counts=(),
    camera_badges=0,
)


@dataclass
class Folders:
    """Where the run keeps things: generated data for later runs, and its scratch space."""

    cache: Path
    work: Path | None = None  # None: a temporary folder, removed afterwards
    keep_work: bool = False
    _made: Path | None = field(default=None, repr=False)

    def scratch(self) -> Path:
        """The scratch folder (made on first use)."""
        if self.work is None:
            self._made = Path(tempfile.mkdtemp(prefix="sekisho-bench-"))
            self.work = self._made
        self.work.mkdir(parents=True, exist_ok=True)
        return self.work

    def clean(self) -> None:
        """Remove the scratch folder if this run made it (and was not told to keep it)."""
        if self._made is not None and not self.keep_work:
            shutil.rmtree(self._made, ignore_errors=True)


async def run(settings: BenchSettings, folders: Folders, say: Callable[[str], None]) -> Results:
    """Run the chosen sections; a section that fails marks its figures unavailable."""
    results = Results(settings.mode, settings.parameters())
    try:
        if "scale" in settings.sections:
            work = folders.scratch() / "site"
            work.mkdir(parents=True, exist_ok=True)
            await run_scale(settings.scale, results, work, folders.cache, say)
        if "audit" in settings.sections:
            await run_audit_async(settings.audit_records, folders.cache, results, say)
        if "cameras" in settings.sections:
            await run_cameras(
                results,
                say,
                analysis_s=settings.camera_analysis_s,
                counts=settings.camera_counts,
                badges=settings.camera_badges,
            )
        for section in SECTIONS:
            if section not in settings.sections:
                results.missing(SECTION_KEYS[section], "section not run (--only/--skip)")
    except asyncio.CancelledError:
        say("interrupted")
        raise
    finally:
        results.finish()
        folders.clean()
    return results


def with_overrides(settings: BenchSettings, **changes: object) -> BenchSettings:
    """``settings`` with the options given on the command line (None: keep)."""
    scale_fields = set(ScaleSettings.__dataclass_fields__)
    scale_changes = {k: v for k, v in changes.items() if k in scale_fields and v is not None}
    own = {k: v for k, v in changes.items() if k not in scale_fields and v is not None}
    return replace(settings, scale=replace(settings.scale, **scale_changes), **own)  # type: ignore[arg-type]  # keys are checked by dataclasses.replace
