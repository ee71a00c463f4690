"""Full, offline verification of a site's log: every record, every tile, every checkpoint.

For each record, in seq order: the seq follows the one before (no gap, no reordering); its
fields, canonicalised and salted, give its stored commitment (no edit); a purged record is
blank where a purge blanks and is covered by an ``audit.purge`` record. From the commitments
the tree is rebuilt: each stored tile hash must match, and the root at every stored checkpoint
(and at a checkpoint a client saved, ``--from-checkpoint``) must be the one it signs, with a
trusted key. The first bad record is named, with what is wrong with it.

Large logs are read in chunks of 2**18 records by worker processes (one per core); each chunk
returns its 256-leaf tile hashes, from which the parent assembles every root it needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # C-accelerated, no ASCII escaping
from multiprocessing import get_context
from typing import Any, Final

from sqlalchemy import Engine, select

from gateway.audit.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from gateway.audit.entry import detail_text
from gateway.audit.jcs import NotCanonicalizable
from gateway.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
)
from gateway.audit.note import Verifier
from gateway.audit.stored import stored_ts_text
from gateway.audit.tree_store import TILE_HEIGHT, TILE_WIDTH, DbTree, checkpoints, head
from gateway.records import RecordKind
from gateway.storage.models import AUDIT_NODE_TABLE, RECORD_TABLE

CHUNK: Final = 1 << 18  # records per worker task (a multiple of TILE_WIDTH)
PARALLEL_FROM: Final = 2 * CHUNK  # smaller logs are verified in-process
_MAX_PROBLEMS: Final = 50

_COLUMNS: Final = (
    "seq, ts, kind, door_id, zone_id, reader_id, person_id, person_kind, credential, "
    "direction, outcome, reason, actor, detail, salt, commitment, purged_by"
)


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """Something wrong with the log, at record ``seq``, or somewhere in ``seq..upto``."""

    seq: int
    what: str
    upto: int | None = None  # set when only a range of records can be named


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a full verification found."""

    site_id: str
    size: int  # records in the log
    root: bytes  # tree head over them
    checkpoints: int  # stored checkpoints whose signature and root were checked
    purged: int  # records whose personal fields a retention purge removed
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        """The earliest bad record: a named record, or the tightest range no named one explains.

        A record edited together with its commitment shows only as ranges (a checkpoint's root,
        a tile hash); where ranges overlap, the change lies in their intersection.
        """
        exact = [p for p in self.problems if p.upto is None]
        ranges = [
            p
            for p in self.problems
            if p.upto is not None and not any(p.seq <= e.seq <= p.upto for e in exact)
        ]
        candidates = list(exact)
        if ranges:
            tight = min(ranges, key=lambda p: p.upto or 0)
            overlapping = [r for r in ranges if r.seq <= (tight.upto or 0)]
            candidates.append(max(overlapping, key=lambda p: p.seq))
        return min(candidates, key=lambda p: p.seq) if candidates else None


@dataclass(frozen=True, slots=True)
class _Source:
    """How a worker reaches the database (picklable)."""

    dialect: str  # "sqlite" or "postgresql"
    target: str  # SQLite file path, or a libpq URL
    site_id: str


@dataclass(slots=True)
class _ChunkResult:
    """What one chunk of records yields."""

    lo: int
    count: int = 0
    tiles: list[bytes] = field(default_factory=list)  # level-8 hashes of complete tiles
    partial: dict[int, list[bytes]] = field(default_factory=dict)  # size -> leaves of its tile
    problems: list[Problem] = field(default_factory=list)
    purged: int = 0


def verify_log(
    engine: Engine,
    site_id: str,
    *,
    keys: Sequence[Verifier] = (),
    saved_checkpoint: str | None = None,
    origin: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the whole log of ``site_id``; never raises for what it finds, only reports it.

    ``keys`` are the trusted checkpoint keys; without any, signatures are not checked (a
    warning says so). ``saved_checkpoint`` is a signed checkpoint a client kept from earlier:
    a database rolled back or forked since is caught against it.
    """
    problems: list[Problem] = []
    warnings: list[str] = []
    with engine.connect() as conn:
        size = head(conn, site_id)
        stored_checkpoints = checkpoints(conn, site_id)
        stored_tiles = _stored_tiles(conn, site_id)
        purges = _purges(conn, site_id)
    trusted = list(keys)
    if not trusted:
        warnings.append("no trusted checkpoint key given: checkpoint signatures not checked")
    signed: dict[int, bytes] = {}
    for row in stored_checkpoints:
        _check_stored_checkpoint(row.size, row.root, row.note, trusted, origin, signed, problems)
    saved = _open_saved(saved_checkpoint, trusted, origin, problems)
    sizes = sorted({s for s in signed if 0 < s <= size} | _saved_size(saved, size))
    source = _source(engine, site_id)
    results = _scan(source, size, sizes, purges, workers, progress)
    tiles: list[bytes] = []
    partial: dict[int, list[bytes]] = {}
    purged = 0
    for result in results:
        problems.extend(result.problems)
        tiles.extend(result.tiles)
        partial.update(result.partial)
        purged += result.purged
    roots = _roots(tiles, partial, sizes, size)
    _check_tiles(tiles, stored_tiles, problems)
    previous = 0
    for s in sorted(signed):
        if s > size:
            problems.append(
                Problem(
                    size + 1,
                    f"records {size + 1}..{s} are missing: a checkpoint signs {s} records "
                    f"but the log holds {size} (truncated)",
                )
            )
        elif s not in roots:
            continue  # records under it are missing or unreadable: reported by the scan
        elif roots[s] != signed[s]:
            problems.append(
                Problem(
                    previous + 1,
                    f"the tree at size {s} is not the one its checkpoint signs: a record in "
                    f"{previous + 1}..{s} was changed together with its commitment",
                    upto=s,
                )
            )
        else:
            previous = s
    if saved is not None:
        _check_saved(engine, site_id, saved, size, roots, problems)
    root = roots.get(size, EMPTY_ROOT)
    return VerifyReport(
        site_id,
        size,
        root,
        len(signed),
        purged,
        tuple(sorted(problems)[:_MAX_PROBLEMS]),
        tuple(warnings),
    )


# --- checkpoints -------------------------------------------------------------------------


def _check_stored_checkpoint(  # noqa: PLR0917  (one helper of verify_log)
    size: int,
    root: bytes,
    note: str,
    trusted: list[Verifier],
    origin: str | None,
    signed: dict[int, bytes],
    problems: list[Problem],
) -> None:
    """Add the checkpoint to ``signed`` if its note is genuine and agrees with its row."""
    if trusted:
        try:
            checkpoint = open_checkpoint(note, trusted, origin)
        except CheckpointError as exc:
            at = max(size, 1)
            problems.append(Problem(at, f"stored checkpoint at size {size}: {exc}", upto=at))
            return
        if checkpoint.size != size or checkpoint.root != root:
            at = max(size, 1)
            problems.append(
                Problem(at, f"stored checkpoint at size {size} disagrees with its note", upto=at)
            )
            return
    signed[size] = root


def _open_saved(
    note: str | None, trusted: list[Verifier], origin: str | None, problems: list[Problem]
) -> Checkpoint | None:
    """The client's saved checkpoint, verified; a problem when it does not verify."""
    if note is None:
        return None
    if not trusted:
        problems.append(Problem(1, "a saved checkpoint needs a trusted key to be checked"))
        return None
    try:
        return open_checkpoint(note, trusted, origin)
    except CheckpointError as exc:
        problems.append(Problem(1, f"saved checkpoint: {exc}"))
        return None


def _saved_size(saved: Checkpoint | None, size: int) -> set[int]:
    """The saved checkpoint's size, when the log is at least that long."""
    return {saved.size} if saved is not None and 0 < saved.size <= size else set()


def _check_saved(  # noqa: PLR0917  (one helper of verify_log)
    engine: Engine,
    site_id: str,
    saved: Checkpoint,
    size: int,
    roots: dict[int, bytes],
    problems: list[Problem],
) -> None:
    """Catch a database rolled back or forked since the client saved its checkpoint."""
    if saved.size > size:
        problems.append(
            Problem(
                size + 1,
                f"rolled back: the saved checkpoint signs {saved.size} records but the "
                f"database holds {size}; records {size + 1}..{saved.size} are gone",
            )
        )
        return
    if saved.size == 0:
        return
    if roots.get(saved.size) != saved.root:
        problems.append(
            Problem(
                1,
                f"forked: the database's tree at size {saved.size} is not the one the saved "
                f"checkpoint signs; the log was rewritten at or before record {saved.size}",
                upto=saved.size,
            )
        )
    with engine.connect() as conn:
        try:
            proof = consistency_proof(DbTree(conn, site_id, size), saved.size, size)
            verify_consistency(saved.size, size, saved.root, roots[size], proof)
        except (ProofError, KeyError, LookupError) as exc:
            problems.append(
                Problem(
                    1,
                    f"consistency proof from the saved checkpoint (size {saved.size}) to the "
                    f"database (size {size}) fails: {exc}",
                    upto=saved.size,
                )
            )
        except Exception as exc:  # noqa: BLE001  (a damaged tree is a finding, not a crash)
            problems.append(
                Problem(1, f"consistency proof cannot be built: {exc}", upto=saved.size)
            )


# --- tiles and roots -----------------------------------------------------------------------


def _stored_tiles(conn: Any, site_id: str) -> dict[tuple[int, int], bytes]:
    """Every stored tile hash of the site."""
    t = AUDIT_NODE_TABLE
    rows = conn.execute(select(t.c.level, t.c.idx, t.c.hash).where(t.c.site_id == site_id))
    return {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}


def _check_tiles(
    tiles: list[bytes], stored: dict[tuple[int, int], bytes], problems: list[Problem]
) -> None:
    """Every stored tile hash must be the one the records give (proofs are built from them)."""
    expected: dict[tuple[int, int], bytes] = {}
    level, row = TILE_HEIGHT, tiles
    while row:
        for index, digest in enumerate(row):
            expected[(level, index)] = digest
        full = len(row) - len(row) % TILE_WIDTH
        row = [_reduce(row[i : i + TILE_WIDTH]) for i in range(0, full, TILE_WIDTH)]
        level += TILE_HEIGHT
    for key, digest in expected.items():
        if stored.get(key) != digest:
            first, last = key[1] * (1 << key[0]) + 1, (key[1] + 1) * (1 << key[0])
            state = "missing" if key not in stored else "wrong (or records under it changed)"
            problems.append(
                Problem(
                    first,
                    f"stored tree hash {key} of records {first}..{last} is {state}",
                    upto=last,
                )
            )
    for key in stored.keys() - expected.keys():
        first, last = key[1] * (1 << key[0]) + 1, (key[1] + 1) * (1 << key[0])
        problems.append(Problem(first, f"stored tree hash {key} is extra", upto=last))


def _reduce(hashes: list[bytes]) -> bytes:
    """Root of a complete subtree from its bottom row."""
    row = hashes
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


def _roots(
    tiles: list[bytes], partial: dict[int, list[bytes]], sizes: list[int], size: int
) -> dict[int, bytes]:
    """The tree head at each size of interest (and at ``size``), from tiles and tile tails."""
    wanted = sorted({*sizes, size})
    frontier = Frontier()
    appended = 0
    out: dict[int, bytes] = {}
    for s in wanted:
        whole = s // TILE_WIDTH
        while appended < whole and appended < len(tiles):
            frontier.append_subtree(TILE_HEIGHT, tiles[appended])
            appended += 1
        if s == 0:
            out[s] = EMPTY_ROOT
            continue
        tail = partial.get(s, [])
        if appended < whole or len(tail) != s % TILE_WIDTH:
            continue  # records missing: reported by the scan
        at = frontier.copy()
        for leaf in tail:
            at.append(leaf)
        out[s] = at.root()
    return out


# --- the scan ----------------------------------------------------------------------------


def _source(engine: Engine, site_id: str) -> _Source:
    """Picklable connection details for workers."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return _Source("sqlite", str(url.database), site_id)
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return _Source("postgresql", libpq, site_id)


def _purges(conn: Any, site_id: str) -> dict[int, dict[str, str]]:
    """Each purge record's seq and the cutoff it applied per kind."""
    r = RECORD_TABLE
    rows = conn.execute(
        select(r.c.seq, r.c.detail).where(
            r.c.site_id == site_id, r.c.kind == RecordKind.AUDIT_PURGE.value
        )
    )
    out: dict[int, dict[str, str]] = {}
    for seq, detail in rows:
        cutoffs = detail.get("cutoffs") if isinstance(detail, dict) else None
        if isinstance(cutoffs, dict):
            out[int(seq)] = {str(k): str(v) for k, v in cutoffs.items()}
    return out


def _scan(  # noqa: PLR0917  (one helper of verify_log)
    source: _Source,
    size: int,
    sizes: list[int],
    purges: dict[int, dict[str, str]],
    workers: int | None,
    progress: Callable[[int], None] | None,
) -> list[_ChunkResult]:
    """Scan records 1..size in chunks, in parallel when the log is large."""
    spans = [(lo, min(lo + CHUNK, size)) for lo in range(0, size, CHUNK)]
    tasks = [(source, lo, hi, [s for s in sizes if lo < s <= hi], purges) for lo, hi in spans]
    count = workers if workers is not None else (os.cpu_count() or 1)
    if size < PARALLEL_FROM or count <= 1:
        results = []
        for task in tasks:
            results.append(_scan_chunk(*task))
            if progress is not None:
                progress(results[-1].count)
        return results
    # spawn: never fork a process that may run the gateway's threads
    results = []
    try:
        with ProcessPoolExecutor(max_workers=count, mp_context=get_context("spawn")) as pool:
            for result in pool.map(_scan_chunk_packed, tasks):
                results.append(result)
                if progress is not None:
                    progress(result.count)
    except BrokenProcessPool:  # workers could not start (e.g. an unguarded __main__)
        for task in tasks[len(results) :]:
            results.append(_scan_chunk(*task))
            if progress is not None:
                progress(results[-1].count)
    return results


def _scan_chunk_packed(task: tuple[Any, ...]) -> _ChunkResult:
    """Worker entry point."""
    return _scan_chunk(*task)


def _rows(source: _Source, lo: int, hi: int) -> Iterator[Sequence[Any]]:
    """Records lo+1..hi of the site, raw, in seq order."""
    query = (
        f"SELECT {_COLUMNS} FROM record WHERE site_id = %s AND seq > %s AND seq <= %s ORDER BY seq"  # noqa: S608  (fixed column list)
    )
    if source.dialect == "sqlite":
        conn = sqlite3.connect(f"file:{source.target}?mode=ro", uri=True)
        try:
            cursor = conn.execute(query.replace("%s", "?"), (source.site_id, lo, hi))
            while batch := cursor.fetchmany(4096):
                yield from batch
        finally:
            conn.close()
        return
    import psycopg  # noqa: PLC0415  (only PostgreSQL verifications need it)

    with psycopg.connect(source.target) as pg, pg.cursor(name="sekisho_verify") as server:
        server.itersize = 4096
        server.execute(query, (source.site_id, lo, hi))
        yield from server


def _scan_chunk(  # noqa: PLR0912, PLR0915  (the hot loop, kept in one place on purpose)
    source: _Source,
    lo: int,
    hi: int,
    sizes: list[int],
    purges: dict[int, dict[str, str]],
) -> _ChunkResult:
    """Check records lo+1..hi and hash them into tiles."""
    result = _ChunkResult(lo)
    problems = result.problems
    site = source.site_id
    site_text = encode_basestring(site)
    sha = hashlib.sha256
    es = encode_basestring
    wanted = set(sizes)
    block: list[bytes] = []
    expect = lo
    try:
        rows = _rows(source, lo, hi)
        for row in rows:
            (seq, ts, kind, door, zone, reader, person, pkind, cred, direction, outcome,
             reason, actor, detail, salt, stored, purged_by) = row  # fmt: skip
            expect += 1
            if seq != expect:
                if len(problems) < _MAX_PROBLEMS:
                    problems.append(
                        Problem(expect, f"record {expect} is missing (next is {seq})")
                        if seq > expect
                        else Problem(seq, f"record {seq} is out of order")
                    )
                while expect < seq:  # keep positions: the tree is wrong from here anyway
                    block.append(bytes(32))
                    expect += 1
                    if len(block) == TILE_WIDTH:
                        result.tiles.append(_reduce(block))
                        block = []
            if stored is None or len(stored) != 32:
                problems.append(Problem(seq, f"record {seq} has no commitment"))
                stored = salt = None  # nothing to check it against
            else:
                stored = bytes(stored)
            try:
                ts_c = stored_ts_text(ts)
                if stored is None:
                    pass
                elif salt is None:
                    result.purged += 1
                    why = _purge_problem(seq, kind, ts_c, purged_by, purges, row)
                    if why is not None:
                        problems.append(Problem(seq, f"record {seq}: {why}"))
                else:
                    if detail == "{}":
                        detail_c = "{}"
                    elif isinstance(detail, str):
                        detail_c = detail_text(json.loads(detail))
                    else:
                        detail_c = detail_text(detail)
                    text = (
                        f'{{"actor":{"null" if actor is None else es(actor)},'
                        f'"credential":{"null" if cred is None else es(cred)},'
                        f'"detail":{detail_c},'
                        f'"direction":{"null" if direction is None else es(direction)},'
                        f'"door_id":{"null" if door is None else es(door)},'
                        f'"kind":{es(kind)},'
                        f'"outcome":{"null" if outcome is None else es(outcome)},'
                        f'"person_id":{"null" if person is None else es(person)},'
                        f'"person_kind":{"null" if pkind is None else es(pkind)},'
                        f'"reader_id":{"null" if reader is None else es(reader)},'
                        f'"reason":{"null" if reason is None else es(reason)},'
                        f'"seq":{seq},"site_id":{site_text},"ts":"{ts_c}",'
                        f'"zone_id":{"null" if zone is None else es(zone)}}}'
                    )
                    if sha(bytes(salt) + text.encode()).digest() != stored:
                        problems.append(
                            Problem(
                                seq,
                                f"record {seq} was edited: its fields do not match its commitment",
                            )
                        )
                    elif purged_by is not None:
                        problems.append(
                            Problem(seq, f"record {seq} names a purge but was not purged")
                        )
            except (TypeError, ValueError, NotCanonicalizable, UnicodeEncodeError) as exc:
                problems.append(
                    Problem(seq, f"record {seq} holds a value of the wrong form: {exc}")
                )
            block.append(bytes(32) if stored is None else leaf_hash(stored))
            if seq in wanted and len(block) < TILE_WIDTH:
                result.partial[seq] = list(block)
            if len(block) == TILE_WIDTH:
                result.tiles.append(_reduce(block))
                block = []
            if len(problems) >= _MAX_PROBLEMS:
                break
    except (sqlite3.Error, OSError) as exc:
        problems.append(Problem(expect + 1, f"reading records failed: {exc}"))
    except Exception as exc:  # noqa: BLE001  (psycopg and friends: reported, never raised)
        problems.append(Problem(expect + 1, f"reading records failed: {exc}"))
    result.count = expect - lo
    if expect < hi:
        problems.append(Problem(expect + 1, f"records {expect + 1}..{hi} are missing"))
    return result


def _purge_problem(  # noqa: PLR0917  (called from the hot loop)
    seq: int,
    kind: str,
    ts: str,
    purged_by: int | None,
    purges: dict[int, dict[str, str]],
    row: Sequence[Any],
) -> str | None:
    """Why a record without salt is not a proper purge, or None when it is one."""
    if purged_by is None:
        return "its salt is gone but no purge names it (content unverifiable)"
    cutoffs = purges.get(int(purged_by))
    if cutoffs is None:
        return f"purged by record {purged_by}, which is not a purge record"
    cutoff = cutoffs.get(kind)
    if cutoff is None or not ts < cutoff or not seq < int(purged_by):
        return f"purge {purged_by} does not cover a {kind} record of {ts}"
    person, cred, actor, detail = row[6], row[8], row[12], row[13]
    if person is not None or cred is not None or actor is not None or detail not in ("{}", {}):
        return "purged but personal fields remain"
    return None
