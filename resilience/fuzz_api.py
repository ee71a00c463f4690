"""Schema fuzzing: schemathesis against a running ``sekisho run`` (OpenAPI at /api/v1/openapi.json).

A real gateway process on the drill's site (firmware-sim devices, SQLite, signed log) serves
the API on 127.0.0.1; ``st run`` (schemathesis's own CLI) generates requests from the schema
with every check on — examples, fuzzing and the stateful phase that follows the schema's links
(the coverage phase too in long runs) — as one role's token. Its JSON report is read back.

Every failure blocks except ``ST202`` (*schema-valid request rejected*): the API is stricter
than its schema there — page sizes capped by a setting, business rules such as "a period of at
most 366 days", nulls refused on PATCH — and answers 4xx by design; those are counted and
listed in docs/resilience.md, never a 5xx nor a response off the schema. ``GET /stream``
(server-sent events, a response that never ends) is left out; ``tests/api`` covers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.launcher import GatewayProcess, Launcher, Mode
from resilience.site_rig import (
    Api,
    RigError,
    SitePaths,
    free_port,
    prepare_site,
    start_sim,
    stop_process,
)

# Failures that are the API being stricter than its schema (4xx on purpose), not defects.
TOLERATED = frozenset({"ST202"})
ROLES = ("operator", "manager", "admin", "auditor", "chief")


@dataclass(frozen=True, slots=True)
class LiveSite:
    """A running gateway process with its API, and who may log in to it."""

    paths: SitePaths
    port: int
    gateway: GatewayProcess

    @property
    def base_url(self) -> str:
        """The API's root URL."""
        return f"http://127.0.0.1:{self.port}/api/v1"

    async def token(self, role: str) -> str:
        """An ``Authorization`` header value for the role's drill account."""
        username = "desk" if role == "operator" else role
        api = Api(self.port, self.paths.password, username)
        try:
            await api.login()
            return api.authorization
        finally:
            await api.close()


@contextlib.asynccontextmanager
async def live_site(work: Path, *, mode: Mode = "fork") -> AsyncIterator[LiveSite]:
    """Start firmware-sim and ``sekisho run`` on a drill site; stop both afterwards."""
    sim_proc, info = await asyncio.to_thread(start_sim, work)
    launcher = Launcher(mode)
    gateway: GatewayProcess | None = None
    try:
        roles = tuple(r for r in ROLES if r != "operator")
        paths, _ = await asyncio.to_thread(
            prepare_site, work, int(info["modules"]["io1"]), people=20, roles=roles
        )
        port = free_port()
        args = ["run", "--config", str(paths.site_file), "--port", str(port)]
        gateway = launcher.spawn(args, work / "gateway.log")
        api = Api(port, paths.password)
        deadline = time.monotonic() + 60
        try:
            while not await api.up():
                if not gateway.alive() or time.monotonic() > deadline:
                    raise RigError("the gateway did not come up; see gateway.log")
                await asyncio.sleep(0.05)
        finally:
            await api.close()
        yield LiveSite(paths, port, gateway)
    finally:
        if gateway is not None:
            gateway.terminate()
        launcher.close()
        await asyncio.to_thread(stop_process, sim_proc)


@dataclass(frozen=True, slots=True)
class FuzzReport:
    """What one schemathesis run found."""

    role: str
    cases: int  # test cases generated and sent
    operations: int  # API operations tested
    failures: dict[str, int]  # "ST103 Undocumented status code" -> unique failures
    exit_code: int
    output: str  # the CLI's summary, for the log

    @property
    def blocking(self) -> dict[str, int]:
        """Failures that are defects: 5xx, responses off the schema, auth bypass, ..."""
        return {k: v for k, v in self.failures.items() if k.split()[0] not in TOLERATED}


def run_schemathesis(
    base_url: str,
    authorization: str,
    report_dir: Path,
    *,
    role: str,
    max_examples: int = 10,
    max_time_s: int = 60,
    phases: str = "examples,fuzzing,stateful",
    seed: int = 9,
) -> FuzzReport:
    """Run ``st run`` with every check; parse its JSON report."""
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / f"schemathesis-{role}.json"
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: {authorization}",
        "--max-examples",
        str(max_examples),
        "--max-time",
        str(max_time_s),
        "--phases",
        phases,
        "--seed",
        str(seed),
        "--workers",
        "2",
        "--request-timeout",
        "10",
        # The live feed is server-sent events: a request that never ends by design.
        "--exclude-path",
        "/api/v1/stream",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--report-dir",
        str(report_dir),
    ]
    done = subprocess.run(  # noqa: S603 -- schemathesis's own CLI against our loopback server
        cmd,
        capture_output=True,
        text=True,
        timeout=max_time_s * 4 + 120,
        check=False,
        cwd=report_dir,
    )
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    failures = {f"{f['code']} {f['title']}": int(f["count"]) for f in data.get("failures", [])}
    for error in data.get("errors", []) or []:
        failures[f"error {error.get('title', error)}"] = 1
    summary = (
        done.stdout[done.stdout.find("SUMMARY") :] if "SUMMARY" in done.stdout else done.stdout
    )
    return FuzzReport(
        role=role,
        cases=_count(data.get("test_cases")),
        operations=_count(data.get("operations"), "tested"),
        failures=failures,
        exit_code=done.returncode,
        output=summary[-4000:] + done.stderr[-2000:],
    )


def _count(value: object, key: str = "generated") -> int:
    """A number out of the report's counters, whatever their shape."""
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        for k in (key, "total", "selected"):
            if isinstance(value.get(k), int):
                return int(value[k])
    return 0
