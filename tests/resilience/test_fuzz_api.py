"""Schema fuzzing of the API (schemathesis, every check, stateful where the schema links).

A real ``sekisho run`` serves the API; schemathesis's CLI sends what the OpenAPI schema allows
(and what it forbids) as the desk operator and as the auditor. Zero 5xx, zero responses off
the schema (status, content type, headers, body), no request the schema forbids accepted, no
unauthenticated access. See ``resilience.fuzz_api`` for the one tolerated kind (ST202).
"""

from __future__ import annotations

import json
from pathlib import Path

from resilience.fuzz_api import live_site, run_schemathesis


async def test_openapi_schema_fuzz_finds_no_5xx_and_no_schema_violation(tmp_path: Path) -> None:
    """Operator and auditor: only ST202 tolerated; the gateway survives."""
    async with live_site(tmp_path / "site") as site:
        reports = []
        for role, budget in (("operator", 25), ("auditor", 12)):
            reports.append(
                run_schemathesis(
                    site.base_url,
                    await site.token(role),
                    tmp_path / "reports",
                    role=role,
                    max_examples=10,
                    max_time_s=budget,
                )
            )
        assert site.gateway.alive(), "the gateway died under the fuzzer"
    for r in reports:
        print(
            json.dumps(
                {
                    "role": r.role,
                    "cases": r.cases,
                    "operations": r.operations,
                    "failures": r.failures,
                }
            )
        )
        assert r.operations >= 100, r.output
        assert r.cases >= 200, r.output
        assert r.blocking == {}, r.output
