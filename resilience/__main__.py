"""``python -m resilience`` (``make resilience``): the long drills, not run in CI.

    python -m resilience crash [--points 1000] [--mode fork|exec] [--seed 9]
    python -m resilience fuzz-api [--max-examples 100] [--max-time 600] [--roles operator,...]
    python -m resilience fuzz-parsers [--examples 20000]
    python -m resilience all          # the three above, one after another

Each prints its figures as JSON lines and writes them to ``--out`` (default
``resilience-results.json``); the exit code is 1 when any drill found a problem.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from resilience.crash import CrashCampaign
from resilience.fuzz_api import ROLES, live_site, run_schemathesis

REPO = Path(__file__).resolve().parent.parent


def _say(data: dict[str, Any]) -> None:
    """One JSON line on stdout."""
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def crash(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The crash campaign at scale."""
    started = time.monotonic()

    def progress(line: str) -> None:
        """Each point's line, with --verbose."""
        if args.verbose:
            sys.stdout.write(line + "\n")

    report = asyncio.run(
        CrashCampaign(
            work / "crash", points=args.points, seed=args.seed, mode=args.mode, log=progress
        ).run()
    )
    out = {"drill": "crash", **report.summary(), "seconds": round(time.monotonic() - started)}
    out["problem_list"] = report.problems[:50]
    return out


def fuzz_api(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Schemathesis per role, all phases including coverage."""

    async def go() -> list[dict[str, Any]]:
        """One live site, one schemathesis run per role."""
        results = []
        async with live_site(work / "fuzz-api") as site:
            for role in args.roles.split(","):
                r = await asyncio.to_thread(
                    run_schemathesis,
                    site.base_url,
                    await site.token(role),
                    work / "fuzz-api" / "reports",
                    role=role,
                    max_examples=args.max_examples,
                    max_time_s=args.max_time,
                    phases="examples,coverage,fuzzing,stateful",
                    seed=args.seed,
                )
                results.append(
                    {
                        "role": role,
                        "cases": r.cases,
                        "operations": r.operations,
                        "failures": r.failures,
                        "blocking": r.blocking,
                    }
                )
            if not site.gateway.alive():
                results.append({"role": "-", "blocking": {"gateway died": 1}})
        return results

    runs = asyncio.run(go())
    problems = sum(sum(r["blocking"].values()) for r in runs)
    return {"drill": "fuzz-api", "runs": runs, "problems": problems}


def fuzz_parsers(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The hypothesis properties of tests/resilience/test_fuzz_parsers.py, many more examples."""
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/resilience/test_fuzz_parsers.py",
            "tests/resilience/test_fuzz_osdp.py",
        ],
        cwd=REPO,
        env={**os.environ, "RESILIENCE_EXAMPLES": str(args.examples)},
        capture_output=True,
        text=True,
        check=False,
    )
    tail = done.stdout.strip().splitlines()[-1:] if done.stdout else []
    return {
        "drill": "fuzz-parsers",
        "examples_per_property": args.examples,
        "result": tail[0] if tail else done.stderr[-500:],
        "seconds": round(time.monotonic() - started),
        "problems": 0 if done.returncode == 0 else 1,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the drills, write the results."""
    parser = argparse.ArgumentParser(prog="python -m resilience", description=__doc__)
    parser.add_argument("drill", choices=["crash", "fuzz-api", "fuzz-parsers", "all"])
    parser.add_argument("--points", type=int, default=1000, help="crash points")
    parser.add_argument("--mode", choices=["fork", "exec"], default="fork")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--max-examples", type=int, default=100, help="schemathesis, per op")
    parser.add_argument("--max-time", type=int, default=600, help="schemathesis, s per role")
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--examples", type=int, default=20_000, help="hypothesis, per property")
    parser.add_argument("--work", type=Path, default=None, help="keep the drills' files here")
    parser.add_argument("--out", type=Path, default=Path("resilience-results.json"))
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    drills = {"crash": crash, "fuzz-api": fuzz_api, "fuzz-parsers": fuzz_parsers}
    chosen = list(drills) if args.drill == "all" else [args.drill]
    results = []
    with tempfile.TemporaryDirectory(prefix="sekisho-resilience-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in chosen:
            result = drills[name](args, work)
            _say(result)
            results.append(result)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 1 if any(r.get("problems") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
