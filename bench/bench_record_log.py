"""Latency of one append on an idle record log, and throughput with many appends in flight.

Run: ``.venv/bin/python bench/bench_record_log.py [--appends 2000] [--concurrent 20000]
[--pg-url postgresql+psycopg://...] [--no-pg]``. SQLite runs on a file in a temporary directory
(WAL, synchronous=FULL); PostgreSQL on a database created for the run on 127.0.0.1:5432 as user
postgres and dropped afterwards, unless ``--pg-url`` names one (its site ``bench-*`` is fresh).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from gateway.records import NewRecord, RecordKind
from gateway.storage.engine import describe, make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.record_log import RecordLog

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=10"
WARM_UP = 50
CLOSED_LOOP_WORKERS = 64  # e.g. many doors and the API writing at once


def _record() -> NewRecord:
    """A typical access decision."""
    return NewRecord(
        kind=RecordKind.ACCESS,
        ts=datetime.now(UTC),
        door_id="door-1",
        zone_id="server-room",
        reader_id="reader-1-in",
        person_id="0123456789abcdef0123456789abcdef",
        person_kind="staff",
        credential="H10301:…456",
        direction="in",
        outcome="granted",
        reason="Granted",
        detail={"purpose": "maintenance"},
    )


def _pct(samples: list[float], q: float) -> float:
    """The q-quantile of samples (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(url: str, appends: int, concurrent: int) -> None:
    """Idle latency over ``appends`` sequential appends, then ``concurrent`` appends at once."""
    engine = make_engine(url)
    upgrade(engine)
    log = RecordLog(engine, f"bench-{secrets.token_hex(4)}")
    log.start()
    try:
        for _ in range(WARM_UP):
            await log.append(_record())
        samples: list[float] = []
        for _ in range(appends):
            rec = _record()
            t0 = time.perf_counter_ns()
            await log.append(rec)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        burst = await _throughput(log, concurrent, workers=concurrent)
        closed = await _throughput(log, concurrent, workers=CLOSED_LOOP_WORKERS)
    finally:
        log.close(timeout=60)
        engine.dispose()
    print(f"{describe(engine)}")
    print(
        f"  idle append, {appends} samples (ms): p50 {statistics.median(samples):.3f}"
        f"  p99 {_pct(samples, 0.99):.3f}  max {max(samples):.3f}"
    )
    print(f"  {concurrent} appends queued at once: {burst}")
    print(f"  {CLOSED_LOOP_WORKERS} tasks appending back to back: {closed}")


async def _throughput(log: RecordLog, total: int, workers: int) -> str:
    """Append ``total`` records from ``workers`` tasks, each awaiting its append before the next."""
    per_worker = total // workers
    before = log.stats

    async def worker() -> None:
        """One task: append its share, one record at a time."""
        for _ in range(per_worker):
            await log.append(_record())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - start
    records = per_worker * workers
    commits = log.stats.batches - before.batches
    return (
        f"{records / elapsed:,.0f} records/s ({commits} commits,"
        f" {records / max(commits, 1):.1f} records per commit)"
    )


@contextmanager
def _scratch_postgres() -> Iterator[str]:
    """A PostgreSQL database for the run, dropped afterwards."""
    name = f"sekisho_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def _main(appends: int, concurrent: int, pg_url: str | None, pg: bool) -> None:
    """SQLite first, then PostgreSQL."""
    with tempfile.TemporaryDirectory() as tmp:
        await _measure(f"sqlite:///{Path(tmp) / 'bench.db'}", appends, concurrent)
    if not pg:
        return
    if pg_url is not None:
        await _measure(pg_url, appends, concurrent)
        return
    with _scratch_postgres() as url:
        await _measure(url, appends, concurrent)


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=2000, help="sequential appends timed")
    parser.add_argument("--concurrent", type=int, default=20000, help="appends in flight at once")
    parser.add_argument("--pg-url", default=None, help="use this PostgreSQL database")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    asyncio.run(_main(args.appends, args.concurrent, args.pg_url, not args.no_pg))


if __name__ == "__main__":
    main()
