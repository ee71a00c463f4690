"""`sekisho bench` at a tiny scale: every section runs for real (firmware-sim and a gateway as
processes, the bulk-made audit log, the camera analysis), every target line is printed, and the
JSON file has the shape later runs are compared against."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sekisho.bench.figures import TARGET_BY_KEY, TARGETS

SEKISHO = str(Path(sys.executable).with_name("sekisho"))
TINY = [
    "--quick",  # the camera count is estimated, not run: the quick mode's cheap path
    "--doors", "4",
    "--credentials", "1000",
    "--big-credentials", "2000",
    "--audit-records", "5000",
    "--badge-seconds", "2",
    "--decisions", "200",
    "--inject-seconds", "1",
    "--ingest", "500",
    "--backlog", "200",
    "--retry-backlog", "200",
    "--camera-seconds", "0.5",
]  # fmt: skip


@pytest.mark.slow
def test_a_tiny_run_prints_every_target_and_writes_comparable_json(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.run(
        [SEKISHO, "bench", *TINY, "--out", str(out), "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    table = run.stdout
    for target in TARGETS:
        line = next((ln for ln in table.splitlines() if target.label in ln), None)
        assert line is not None, f"no line for {target.label!r}:\n{table}"
        assert target.text() in line
        assert line[0] in "✔✘·"
    [saved] = list(out.glob("*.json"))
    assert f"results: {saved}" in table
    data = json.loads(saved.read_text())
    assert data["format"] == 1
    assert data["mode"] == "quick"
    assert data["machine"]["cpus"] == os.cpu_count()
    assert len(data["machine"]["load_before"]) == 3
    assert data["parameters"]["doors"] == 4
    assert set(data["figures"]) == {t.key for t in TARGETS}
    for key, figure in data["figures"].items():
        assert set(figure) >= {"value", "unit", "target", "ok", "on"}, key
    # Measured for real, on this machine: these never depend on a broker or a camera landing.
    for key in (
        "badge_to_strike_p99_ms",
        "gateway_path_p99_ms",
        "decision_p99_ms",
        "durable_decisions_per_s",
        "ingest_per_s",
        "retry_backlog_drain_s",
        "lookup_p99_2m_ms",
        "peak_rss_2m_mib",
        "audit_page_p99_ms",
        "export_rows_per_s",
        "verify_s",
    ):
        assert isinstance(data["figures"][key]["value"], float), (key, data["figures"][key])
        assert data["figures"][key]["value"] > 0
        has_target = TARGET_BY_KEY[key].limit is not None
        assert isinstance(data["figures"][key]["ok"], bool) is has_target
    site = data["sections"]["site"]
    assert site["badges"]["no_strike"] == 0  # every badge at every door opened its strike
    assert site["badges"]["badges"] == 2 * 4
    assert site["decisions"]["first"]["denied"] == 0
    offered = int(data["parameters"]["inject_per_s"] * data["parameters"]["inject_s"])
    assert site["sustained"]["recorded"] == site["sustained"]["injected"] == offered
    assert site["retry_backlog"]["left"] == 0
    assert data["sections"]["audit"]["verify"]["ok"] is True
    assert data["sections"]["big"]["credentials"] == 2000

    again = subprocess.run(
        [SEKISHO, "bench", "--show", str(saved), "--compare", str(saved)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    decision = next(ln for ln in again.stdout.splitlines() if "decision p99 (lookup" in ln)
    assert "+0" in decision  # the same run: no change
