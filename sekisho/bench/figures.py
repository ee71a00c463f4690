"""The figures ``sekisho bench`` reports, each beside its target, and how they are summarised."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Better = Literal["lower", "higher"]


@dataclass(frozen=True, slots=True)
class Target:
    """A figure the issue asks for, with its target (None: reported for information)."""

    key: str
    label: str
    unit: str
    limit: float | None = None
    better: Better = "lower"

    def text(self) -> str:
        """The target as printed: ``≤ 100 ms``, ``≥ 500 /s`` or ``(info)``."""
        if self.limit is None:
            return "(info)"
        op = "≤" if self.better == "lower" else "≥"
        return f"{op} {_number(self.limit)} {self.unit}".rstrip()

    def met(self, value: float | None) -> bool | None:
        """True/False against the target; None without a target or a figure."""
        if self.limit is None or value is None:
            return None
        return value <= self.limit if self.better == "lower" else value >= self.limit


# Every line the table prints, in order (issue 9). The key is also the JSON key.
TARGETS: tuple[Target, ...] = (
    Target("badge_to_strike_p99_ms", "badge → strike p99, every rule on, 1 badge/s/door", "ms",
           100),
    Target("gateway_path_p99_ms", "gateway path p99 (frame → record → coil written)", "ms", 3),
    Target("decision_p99_ms", "decision p99 (lookup + every rule), 64 doors", "ms", 5),
    Target("decision_p999_ms", "decision p99.9", "ms"),
    Target("durable_decisions_per_s", "sustained decisions/s, each durably recorded", "/s", 500,
           "higher"),
    Target("ingest_per_s", "event ingest/s, group commit", "/s", 5000, "higher"),
    Target("mqtt_backlog_drain_s", "replay of the MQTT outbox backlog (time to drain)", "s"),
    Target("retry_backlog_drain_s", "replay of the recorder's retry backlog (time to drain)",
           "s"),
    Target("lookup_p99_2m_ms", "credential lookup p99 at 2 M credentials", "ms", 1),
    Target("decision_p99_2m_ms", "decision p99 at 2 M credentials", "ms", 5),
    Target("peak_rss_2m_mib", "gateway process peak RSS at 2 M credentials", "MiB", 512),
    Target("audit_page_p99_ms", "audit page query p99 (100 rows, 30 days)", "ms", 2),
    Target("export_rows_per_s", "audit export rows/s (JSON with proof)", "/s", 100_000,
           "higher"),
    Target("verify_s", "full verification of the log", "s", 60),
    Target("camera_fps_per_core", "camera analysis frames/s per core (decode excluded)", "fps"),
    Target("cameras_per_2_cores", "cameras held on 2 cores (badge → strike p99 in target)", "",
           8, "higher"),
    Target("mqtt_latency_p99_ms", "MQTT event latency after the decision, p99", "ms"),
)  # fmt: skip
TARGET_BY_KEY = {t.key: t for t in TARGETS}


@dataclass(frozen=True, slots=True)
class Spread:
    """Percentiles of a sample, in the sample's unit."""

    n: int
    p50: float
    p99: float
    p999: float
    max: float
    mean: float

    def as_dict(self) -> dict[str, float]:
        """For JSON."""
        return {
            "n": self.n,
            "p50": self.p50,
            "p99": self.p99,
            "p99.9": self.p999,
            "max": self.max,
            "mean": self.mean,
        }


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, nearest rank."""
    if not ordered:
        return math.nan
    rank = math.ceil(q * len(ordered)) - 1
    return ordered[min(len(ordered) - 1, max(0, rank))]


def spread(values: Sequence[float]) -> Spread:
    """p50, p99, p99.9, max and mean of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return Spread(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return Spread(
        len(ordered),
        percentile(ordered, 0.5),
        percentile(ordered, 0.99),
        percentile(ordered, 0.999),
        ordered[-1],
        sum(ordered) / len(ordered),
    )


def _number(value: float) -> str:
    """A figure as a person reads it: thousands separated, few decimals."""
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100 or value == int(value):
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def number(value: float | None) -> str:
    """``_number`` that also takes None (not measured)."""
    return "n/a" if value is None else _number(value)
