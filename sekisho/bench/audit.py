"""The tamper-evident log at 10 M events: page queries, export, full verification.

The log is made by ``bench/bench_audit.py``'s bulk path (the writer's own functions, many
records a transaction, indexes built afterwards) and kept with its signing key in the cache
folder, so later runs reuse it. Queries are the audit page (``GET /audit/records``): 100 rows
by person or by door over 30 days; the export streams every record of a 30-day span as JSON
with its multi-leaf proof; verification re-derives every commitment, the tree and each signed
checkpoint with two worker processes.

Page times depend on whether the log's pages are in the OS page cache, so they are measured
twice: cold, right after the kernel was asked to drop the file (``posix_fadvise``), and warm,
after the file was read through once — a gateway whose memory holds its log. The figure is the
warm one; the cold one is in the note.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway.audit.export import ExportFilters
from gateway.audit.note import Signer
from gateway.audit.verify import verify_log
from gateway.storage.engine import make_engine
from gateway.storage.queries import query_by_time
from sekisho.bench import scripts
from sekisho.bench.figures import spread
from sekisho.bench.report import Results

AUDIT_KEYS = ("audit_page_p99_ms", "export_rows_per_s", "verify_s")
_QUERIES = 300  # of each kind
_WINDOW = timedelta(days=30)


def _log(records: int, cache: Path, say: Callable[[str], None]) -> tuple[Path, Signer, Any]:
    """The kept log of ``records`` records (made now if missing), its signer and the script."""
    bench = scripts.load("bench_audit")
    cache.mkdir(parents=True, exist_ok=True)
    db = cache / f"audit-{records}-v1.db"
    key = db.with_suffix(".key")
    if db.exists() and key.exists():
        say(f"reusing the log of {records:,} records in {db}")
        return db, Signer.parse(key.read_text(encoding="ascii")), bench
    say(f"building a log of {records:,} records by the bulk path (kept in {cache})")
    signer = Signer.generate(bench.ORIGIN)
    partial = db.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    bench.bulk_load(partial, records, signer)
    key.write_text(signer.skey, encoding="ascii")
    os.chmod(key, 0o600)
    partial.replace(db)
    return db, signer, bench


def run_audit(records: int, cache: Path, results: Results, say: Callable[[str], None]) -> None:
    """Measure the audit figures into ``results``."""
    try:
        db, signer, bench = _log(records, cache, say)
    except scripts.ScriptMissing as exc:
        results.missing(AUDIT_KEYS, str(exc))
        return
    engine = make_engine(sqlite_path=db)
    section: dict[str, Any] = {"records": records}
    results.sections["audit"] = section
    scale = f"{records:,} records"
    try:
        say("audit page queries, cold (the log dropped from the OS cache)")
        dropped = _drop_from_cache(db)
        cold = _pages(engine, bench, records, seed=4)
        say("audit page queries, warm (the log read through once)")
        _read_through(db)
        pages = _pages(engine, bench, records, seed=3)
        section["page_ms"] = {k: v.as_dict() for k, v in pages.items()}
        section["page_ms_cold"] = {k: v.as_dict() for k, v in cold.items()}
        cold_text = f"cold p99 {cold['all'].p99:.2f} ms" if dropped else "cold: not measured"
        results.put(
            "audit_page_p99_ms", pages["all"].p99,
            f"by person p99 {pages['person'].p99:.2f}, by door p99 {pages['door'].p99:.2f} ms; "
            f"{pages['all'].n} pages of 100 rows over 30 days, {scale}; the log in the OS "
            f"cache ({cold_text}, read from disk)",
        )  # fmt: skip
        say("export of 30 days")
        span = bench.STEP_S * records
        since = bench.T0 + timedelta(seconds=span * 0.3)
        until = since + min(_WINDOW, timedelta(seconds=span / 4))
        rows, secs, size = bench.bench_export(engine, ExportFilters(since=since, until=until))
        section["export"] = {"rows": rows, "s": secs, "bytes": size}
        results.put(
            "export_rows_per_s", rows / secs,
            f"{rows:,} rows ({size / 1e6:.0f} MB) in {secs:.1f} s, {scale}",
        )  # fmt: skip
        say("full verification (2 worker processes)")
        started = time.perf_counter()
        report = verify_log(
            engine, bench.SITE, keys=[signer.verifier()], origin=bench.ORIGIN, workers=2
        )
        elapsed = time.perf_counter() - started
        section["verify"] = {"s": elapsed, "ok": report.ok, "checkpoints": report.checkpoints}
        if not report.ok:
            results.missing(("verify_s",), f"verification failed: {report.problems[:2]}")
        else:
            results.put(
                "verify_s", elapsed,
                f"{report.size:,} records ({report.size / elapsed:,.0f}/s), "
                f"{report.checkpoints:,} signed checkpoints",
            )  # fmt: skip
    finally:
        engine.dispose()


def _log_files(db: Path) -> list[Path]:
    """The database file and its WAL, where they exist."""
    return [p for p in (db, db.with_name(db.name + "-wal")) if p.exists()]


def _drop_from_cache(db: Path) -> bool:
    """Ask the kernel to drop the log's cached pages; False where it cannot be asked."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in _log_files(db):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def _read_through(db: Path) -> None:
    """Read the log's files once, so that their pages are in the OS cache."""
    for path in _log_files(db):
        with path.open("rb", buffering=0) as f:
            while f.read(8 << 20):
                pass


def _pages(engine: Any, bench: Any, records: int, seed: int) -> dict[str, Any]:
    """Audit page query times (ms) by person and by door, and of both."""
    rng = random.Random(seed)  # noqa: S311 -- which pages to ask for, not secrets
    span_days = max(1, int(bench.STEP_S * records / 86_400) - 30)
    times: dict[str, list[float]] = {"person": [], "door": []}
    with engine.connect() as conn:
        for _ in range(30):  # warm the cache as a running gateway's is
            query_by_time(conn, bench.SITE, person_id=f"{rng.randrange(bench.PEOPLE):032x}")
        for _ in range(_QUERIES):
            since = bench.T0 + timedelta(days=rng.randrange(span_days))
            until = since + _WINDOW
            person = f"{rng.randrange(bench.PEOPLE):032x}"
            door = f"door-{rng.randrange(bench.DOORS)}"
            t0 = time.perf_counter_ns()
            query_by_time(conn, bench.SITE, since=since, until=until, person_id=person)
            t1 = time.perf_counter_ns()
            query_by_time(conn, bench.SITE, since=since, until=until, door_id=door)
            t2 = time.perf_counter_ns()
            times["person"].append((t1 - t0) / 1e6)
            times["door"].append((t2 - t1) / 1e6)
    return {
        "person": spread(times["person"]),
        "door": spread(times["door"]),
        "all": spread(times["person"] + times["door"]),
    }


async def run_audit_async(
    records: int, cache: Path, results: Results, say: Callable[[str], None]
) -> None:
    """``run_audit`` in a worker thread (it is CPU and disk work)."""
    await asyncio.to_thread(run_audit, records, cache, results, say)
