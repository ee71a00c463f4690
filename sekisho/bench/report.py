"""The run's results: the printed table, the JSON file, and the deltas against an earlier run."""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sekisho.bench.figures import TARGET_BY_KEY, TARGETS, number

FORMAT_VERSION = 1


class ResultsError(Exception):
    """A results file cannot be read or is not one of ours."""


def _now() -> str:
    """The current UTC time as ``2026-11-26T08:15:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (as ``uptime`` shows them)."""
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class Results:
    """Everything one run measured: figures by key, details per section, what was not measured."""

    mode: str
    parameters: dict[str, Any]
    figures: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # key → what the figure stands on
    sections: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # key or section → why
    started_at: str = field(default_factory=_now)
    load_before: list[float] = field(default_factory=load_average)
    load_after: list[float] = field(default_factory=list)
    finished_at: str = ""

    def put(self, key: str, value: float, note: str = "") -> None:
        """Record a figure (``key`` from ``figures.TARGETS``)."""
        if key not in TARGET_BY_KEY:
            raise KeyError(f"no figure {key!r}")
        if not math.isnan(value):
            self.figures[key] = value
        if note:
            self.notes[key] = note

    def missing(self, keys: tuple[str, ...], why: str) -> None:
        """Figures that could not be measured, and why."""
        for key in keys:
            self.unavailable.setdefault(key, why)

    def finish(self) -> None:
        """Stamp the end of the run."""
        self.finished_at = _now()
        self.load_after = load_average()

    def as_json(self) -> dict[str, Any]:
        """The JSON document (``bench/results/<UTC timestamp>.json``)."""
        return {
            "format": FORMAT_VERSION,
            "mode": self.mode,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_before": self.load_before,
                "load_after": self.load_after,
            },
            "parameters": self.parameters,
            "figures": {
                t.key: {
                    "value": self.figures.get(t.key),
                    "unit": t.unit,
                    "target": t.text(),
                    "ok": t.met(self.figures.get(t.key)),
                    "on": self.notes.get(t.key, ""),
                    "unavailable": self.unavailable.get(t.key),
                }
                for t in TARGETS
            },
            "sections": self.sections,
        }


def file_name(started_at: str) -> str:
    """``20261126T081500Z.json`` for a run started then."""
    return started_at.replace("-", "").replace(":", "") + ".json"


def save(results: Results, folder: Path) -> Path:
    """Write the JSON file; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(results.started_at)
    path.write_text(json.dumps(results.as_json(), indent=2, ensure_ascii=False) + "\n")
    return path


def load(path: Path) -> dict[str, Any]:
    """An earlier run's JSON; ResultsError if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read benchmark results ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise ResultsError(f"{path}: not a `sekisho bench` results file (format {FORMAT_VERSION})")
    figures = data.get("figures")
    if not isinstance(figures, dict):
        raise ResultsError(f"{path}: no figures in it")
    return data


def _mark(ok: bool | None) -> str:
    """✔, ✘ or · (no target)."""
    return {True: "✔", False: "✘", None: "·"}[ok]


def print_table(results: Results, out: TextIO, previous: dict[str, Any] | None = None) -> None:
    """The figures beside their targets; with ``previous``, the change since that run."""
    load = ", ".join(f"{x:g}" for x in results.load_before)
    out.write(
        f"\nSekisho benchmark ({results.mode}), {os.cpu_count()} CPUs, load average before: "
        f"{load}\n"
    )
    if previous is not None:
        out.write(f"compared with the run of {previous.get('started_at', '?')}\n")
    head = f"{'':2}{'figure':<58}{'measured':>12}  {'target':<14}"
    out.write(head + ("  change" if previous else "") + "\n")
    for t in TARGETS:
        value = results.figures.get(t.key)
        shown = f"{number(value)} {t.unit}".rstrip() if value is not None else "n/a"
        line = f"{_mark(t.met(value))} {t.label:<58}{shown:>12}  {t.text():<14}"
        if previous is not None:
            line += "  " + _delta(t.key, value, previous)
        out.write(line.rstrip() + "\n")
        why = results.unavailable.get(t.key)
        note = results.notes.get(t.key)
        if value is None and why:
            out.write(f"{'':4}not available: {why}\n")
        elif note:
            out.write(f"{'':4}{note}\n")


def _delta(key: str, value: float | None, previous: dict[str, Any]) -> str:
    """``+3.1 ms (+12%)``, or why there is no change to show."""
    before = previous.get("figures", {}).get(key, {})
    old = before.get("value") if isinstance(before, dict) else None
    if value is None or not isinstance(old, int | float):
        return "—"
    diff = value - old
    unit = TARGET_BY_KEY[key].unit
    pct = f" ({diff / old * 100:+.0f}%)" if old else ""
    sign = "+" if diff >= 0 else "-"
    return f"{sign}{number(abs(diff))} {unit}{pct}".replace(" ()", "")
