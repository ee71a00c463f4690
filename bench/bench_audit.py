"""Tamper-evident log at scale: append, full verification, proofs, audit queries and exports.

Run: ``.venv/bin/python bench/bench_audit.py [--records 10000000] [--db PATH] [--keep]``.

The 10 M-record log is made by a *bulk path* that yields exactly what the record writer would:
worker processes build each record's canonical JSON, salt and commitment with the writer's
own functions (``gateway.audit.entry``), the parent feeds the leaves to the same ``Frontier``
(storing every 256-leaf tile hash it completes) and signs a checkpoint every 1,000 records,
and rows go into SQLite in large unsynchronised transactions with the secondary indexes
built afterwards. Full verification then re-derives everything from the stored rows, which
is also the proof that the bulk path and the writer agree. ``--db`` reuses a file so made.
Figures are printed beside the targets of issue 4.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.audit.checkpoint import CheckpointPolicy, sign_checkpoint
from gateway.audit.entry import canonical_entry, commitment, detail_text, new_salt, ts_text
from gateway.audit.export import ExportFilters, stream_export
from gateway.audit.merkle import (
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_inclusion,
)
from gateway.audit.note import Signer
from gateway.audit.tree_store import TILE_HEIGHT, DbTree, latest_checkpoint
from gateway.audit.verify import verify_log
from gateway.records import NewRecord, RecordKind
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.queries import query_by_time
from gateway.storage.record_log import RecordLog

SITE = "bench"
ORIGIN = "sekisho/bench"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
STEP_S = 3  # one record every 3 s: 10 M records span about 347 days
PEOPLE = 2000
DOORS = 50
CHUNK = 100_000
CHECKPOINT_EVERY = 1000
INDEXES = {
    "ix_record_site_ts": "(site_id, ts)",
    "ix_record_site_person_ts": "(site_id, person_id, ts)",
    "ix_record_site_door_ts": "(site_id, door_id, ts)",
    "ix_record_site_kind_ts": "(site_id, kind, ts)",
}


def _pct(samples: list[float], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _line(name: str, value: str, target: str, *, ok: bool = True) -> None:
    """One figure beside its target."""
    print(f"  {name:<48} {value:>22}   target {target:<18} {'ok' if ok else 'MISSED'}")


def _spread(name: str, samples: list[float], target_ms: float | None) -> None:
    """p50 / p99 of millisecond samples, against a p99 target when there is one."""
    p99 = _pct(samples, 0.99)
    target = "(info)" if target_ms is None else f"p99 <= {target_ms:g} ms"
    _line(f"{name} (p50 / p99)", f"{statistics.median(samples):.2f} / {p99:.2f} ms", target,
          ok=target_ms is None or p99 <= target_ms)  # fmt: skip


def _fields(i: int) -> dict[str, Any]:
    """The i-th synthetic record (deterministic): mostly access decisions, some door events."""
    rng = random.Random(i)
    door = rng.randrange(DOORS)
    if i % 20 == 19:
        return {
            "kind": RecordKind.DOOR_CLOSED.value if i % 40 == 39 else RecordKind.DOOR_OPENED.value,
            "door_id": f"door-{door}", "zone_id": f"zone-{door % 5}", "reader_id": None,
            "person_id": None, "person_kind": None, "credential": None, "direction": None,
            "outcome": None, "reason": None, "actor": None, "detail": {},
        }  # fmt: skip
    person = rng.randrange(PEOPLE)
    denied = rng.random() < 0.05
    return {
        "kind": RecordKind.ACCESS.value, "door_id": f"door-{door}", "zone_id": f"zone-{door % 5}",
        "reader_id": f"reader-{door}-in", "person_id": f"{person:032x}", "person_kind": "staff",
        "credential": f"H10301:…{person % 1000:03d}", "direction": "in",
        "outcome": "denied" if denied else "granted",
        "reason": "Unauthorized" if denied else "Granted", "actor": None,
        "detail": {"purpose": "maintenance", "ticket": i % 9973},
    }  # fmt: skip


def _make_chunk(lo: int, hi: int) -> list[tuple[Any, ...]]:
    """Rows for seqs lo+1..hi exactly as the writer stores them (SQLite text ts, JSON detail)."""
    rows = []
    for i in range(lo, hi):
        seq = i + 1
        f = _fields(i)
        ts = T0 + timedelta(seconds=STEP_S * i, microseconds=(i * 7919) % 1_000_000)
        salt = new_salt()
        digest = commitment(
            salt, canonical_entry(SITE, seq, ts_text(ts), f, detail_text(f["detail"]))
        )
        rows.append((
            SITE, seq, ts.strftime("%Y-%m-%d %H:%M:%S.%f"), f["kind"], f["door_id"], f["zone_id"],
            f["reader_id"], f["person_id"], f["person_kind"], f["credential"], f["direction"],
            f["outcome"], f["reason"], f["actor"], json.dumps(f["detail"]), salt, digest,
        ))  # fmt: skip
    return rows


def bulk_load(path: Path, count: int, signer: Signer) -> None:
    """Make a log of ``count`` records at ``path`` by the bulk path (see the module docstring)."""
    engine = make_engine(sqlite_path=path)
    upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-2000000")
    for name in INDEXES:
        conn.execute(f"DROP INDEX {name}")
    insert = (
        "INSERT INTO record (site_id, seq, ts, kind, door_id, zone_id, reader_id, person_id,"
        " person_kind, credential, direction, outcome, reason, actor, detail, salt, commitment)"
        " VALUES (" + ",".join("?" * 17) + ")"
    )
    nodes: list[tuple[str, int, int, bytes]] = []
    frontier = Frontier(
        stride=TILE_HEIGHT, on_node=lambda n: nodes.append((SITE, n.level, n.index, n.hash))
    )
    checkpoints: list[tuple[Any, ...]] = []
    vkey = signer.verifier().vkey
    start = time.perf_counter()
    spans = [(lo, min(lo + CHUNK, count)) for lo in range(0, count, CHUNK)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        for rows in pool.map(_make_chunk, *zip(*spans, strict=True)):
            for row in rows:
                frontier.append(leaf_hash(row[16]))
                if frontier.size % CHECKPOINT_EVERY == 0:
                    signed = sign_checkpoint(
                        signer, ORIGIN, frontier.size, frontier.root(), datetime.now(UTC)
                    )
                    stamp = ts_text(signed.signed_at or T0)[:-1].replace("T", " ")
                    checkpoints.append((SITE, signed.size, signed.root, signed.note, vkey, stamp))
            conn.executemany(insert, rows)
            conn.commit()
            done = rows[-1][1]
            rate = done / (time.perf_counter() - start)
            print(f"\r  bulk load: {done:,} records ({rate:,.0f}/s)", end="", flush=True)
    print()
    conn.executemany("INSERT INTO audit_node (site_id, level, idx, hash) VALUES (?,?,?,?)", nodes)
    conn.executemany(
        "INSERT INTO audit_checkpoint (site_id, size, root, note, key, created_at)"
        " VALUES (?,?,?,?,?,?)",
        checkpoints,
    )
    conn.commit()
    t = time.perf_counter()
    for name, columns in INDEXES.items():
        conn.execute(f"CREATE INDEX {name} ON record {columns}")
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    total = time.perf_counter() - start
    print(f"  indexes built in {time.perf_counter() - t:.0f} s; total {total:.0f} s")


async def bench_append(signer: Signer, total: int) -> tuple[float, float, float]:
    """Durable appends through the real writer (group commit, checkpoints): rate, p50, p99."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(sqlite_path=Path(tmp) / "append.db")
        upgrade(engine)
        log = RecordLog(engine, SITE, checkpoints=CheckpointPolicy(signer, ORIGIN, 1000, 60.0))
        log.start()
        try:
            samples = []
            for i in range(500):
                rec = _record(i)
                t0 = time.perf_counter()
                await log.append(rec)
                samples.append((time.perf_counter() - t0) * 1e3)

            async def worker(n: int) -> None:
                for i in range(n):
                    await log.append(_record(i))

            start = time.perf_counter()
            await asyncio.gather(*(worker(total // 64) for _ in range(64)))
            rate = (total // 64) * 64 / (time.perf_counter() - start)
        finally:
            log.close(timeout=60)
            engine.dispose()
    return rate, statistics.median(samples), _pct(samples, 0.99)


def _record(i: int) -> NewRecord:
    """A record for the append benchmark."""
    f = _fields(i)
    f["kind"] = RecordKind(f["kind"])
    return NewRecord(ts=datetime.now(UTC), **f)


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    """Milliseconds of ``n`` calls."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def bench_proofs(engine: Engine, size: int) -> tuple[list[float], list[float]]:
    """Inclusion proofs of random records at the full size, consistency from random sizes."""
    rng = random.Random(7)
    incl: list[float] = []
    cons: list[float] = []
    with engine.connect() as conn:
        head = root(DbTree(conn, SITE, size), size)
        for _ in range(300):
            index = rng.randrange(size)
            t0 = time.perf_counter()
            tree = DbTree(conn, SITE, size)
            path = inclusion_proof(tree, index, size)
            incl.append((time.perf_counter() - t0) * 1e3)
            verify_inclusion(index, size, tree.node(0, index), path, head)
            first = rng.randrange(1, size)
            t0 = time.perf_counter()
            consistency_proof(DbTree(conn, SITE, size), first, size)
            cons.append((time.perf_counter() - t0) * 1e3)
    return incl, cons


def bench_queries(engine: Engine) -> dict[str, list[float]]:
    """Audit page queries (100 rows, ``GET /audit/records``) by person and door over 30 days."""
    rng = random.Random(3)
    out: dict[str, list[float]] = {"person": [], "door": []}
    with engine.connect() as conn:
        for _ in range(30):  # warm the cache
            query_by_time(conn, SITE, person_id=f"{rng.randrange(PEOPLE):032x}", limit=100)
        for _ in range(300):
            since = T0 + timedelta(days=rng.randrange(300))
            until = since + timedelta(days=30)
            person = f"{rng.randrange(PEOPLE):032x}"
            door = f"door-{rng.randrange(DOORS)}"
            out["person"] += _timed(
                lambda p=person, s=since, u=until: query_by_time(
                    conn, SITE, person_id=p, since=s, until=u, limit=100
                ),
                1,
            )
            out["door"] += _timed(
                lambda d=door, s=since, u=until: query_by_time(
                    conn, SITE, door_id=d, since=s, until=u, limit=100
                ),
                1,
            )
    return out


def bench_export(engine: Engine, filters: ExportFilters) -> tuple[int, float, int]:
    """Rows, seconds and bytes of one streamed JSON export (records + multi-leaf proof)."""
    with engine.connect() as conn:
        checkpoint = latest_checkpoint(conn, SITE)
    assert checkpoint is not None
    start = time.perf_counter()
    size = 0
    chunks: Iterator[bytes] = stream_export(
        engine,
        SITE,
        filters,
        checkpoint,
        fmt="json",
        exported_by="bench",
        exported_at=datetime.now(UTC),
    )
    for chunk in chunks:
        size += len(chunk)
    elapsed = time.perf_counter() - start
    rows = int(chunk.rsplit(b'"count":', 1)[1].rstrip(b"}\n"))
    return rows, elapsed, size


def main() -> None:
    """Build (or reuse) the log, then measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, default=None, help="reuse or create this SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    parser.add_argument("--append", type=int, default=50_000, help="records in the append test")
    args = parser.parse_args()
    signer = Signer.generate(ORIGIN)
    key_file = (args.db or Path(tempfile.gettempdir()) / "x").with_suffix(".key")
    tmpdir = tempfile.mkdtemp(prefix="sekisho-bench-")
    path = args.db or Path(tmpdir) / "audit.db"
    if path.exists() and key_file.exists():
        signer = Signer.parse(key_file.read_text())
        print(f"reusing {path}")
    else:
        path.unlink(missing_ok=True)
        key_file.write_text(signer.skey)
        os.chmod(key_file, 0o600)
        print(f"bulk path: {args.records:,} records into {path}")
        bulk_load(path, args.records, signer)
    engine = make_engine(sqlite_path=path)
    with engine.connect() as conn:
        size = int(
            conn.exec_driver_sql(
                f"SELECT max(seq) FROM record WHERE site_id = '{SITE}'"
            ).scalar_one()
        )
    print(f"\nfigures at {size:,} records (SQLite, {os.cpu_count()} cores)")

    rate, p50, p99 = asyncio.run(bench_append(signer, args.append))
    _line("append, durable, group commit (64 writers)", f"{rate:,.0f} records/s", ">= 5,000/s",
          ok=rate >= 5000)  # fmt: skip
    _line("append latency, idle log (p50 / p99)", f"{p50:.2f} / {p99:.2f} ms", "(info)")

    start = time.perf_counter()
    report = verify_log(engine, SITE, keys=[signer.verifier()], origin=ORIGIN, workers=2)
    elapsed = time.perf_counter() - start
    assert report.ok, report.problems[:3]
    limit = 60 * size / 10_000_000
    _line(f"full verification of {size:,} records",
          f"{elapsed:.1f} s ({size / elapsed:,.0f}/s)", f"<= {limit:.0f} s",
          ok=elapsed <= limit)  # fmt: skip
    print(f"    ({report.checkpoints:,} signed checkpoints checked; bulk path and writer agree)")

    incl, cons = bench_proofs(engine, size)
    _spread("inclusion proof at full size", incl, 5.0)
    _spread("consistency proof", cons, None)
    for what, samples in bench_queries(engine).items():
        _spread(f"audit page by {what}, 30 days, 100 rows", samples, 2.0)

    month = ExportFilters(since=T0 + timedelta(days=100), until=T0 + timedelta(days=130))
    rows, secs, nbytes = bench_export(engine, month)
    _line("export, every record of 30 days (JSON)", f"{rows / secs:,.0f} rows/s",
          ">= 100,000/s", ok=rows / secs >= 100_000)  # fmt: skip
    print(f"    ({rows:,} rows, {nbytes / 1e6:.0f} MB in {secs:.1f} s)")
    door = ExportFilters(
        door_id="door-7", since=T0 + timedelta(days=100), until=T0 + timedelta(days=130)
    )
    rows, secs, nbytes = bench_export(engine, door)
    _line("export, one door over 30 days (scattered)", f"{rows / secs:,.0f} rows/s", "(info)")
    print(f"    ({rows:,} rows, {nbytes / 1e6:.1f} MB in {secs:.1f} s)")
    engine.dispose()
    if not args.keep and args.db is None:
        for p in Path(tmpdir).iterdir():
            p.unlink()
        Path(tmpdir).rmdir()
        key_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
