"""The site's durable record log: one writer thread, group commit, gap-free sequence numbers.

Every entry and exit, granted or denied, is recorded (4-8-7(1)) and kept from tampering and
loss (4-8-6(4)). A grant in the core awaits :meth:`RecordLog.append` before it releases the
strike, so ``append`` resolves only after the record's transaction is durably committed.

One thread per site owns one connection. It takes whatever is queued (up to ``max_batch``),
numbers it in arrival order, inserts it with one executemany and commits once: under load many
records share one fsync; on an idle log one record costs one commit. A failed batch fails each
of its callers with a :class:`StorageError` and leaves the sequence where it was, so the next
batch has no gap; the writer reconnects and goes on serving.

A commit whose connection died before its answer came (PostgreSQL: the server may have
committed it) is *in doubt*. The writer reconnects at once and looks: the batch's rows, with
the commitments it computed, are there (its callers get their seqs) or not (they fail). When it
cannot look yet, the callers fail and the batch is remembered; at the next connection the
writer looks, and the records that did land are answered with their seqs when they are
appended again (the ``Recorder`` retries them), instead of being written a second time.

Tamper evidence (4-8-6(4), ``gateway.audit``): for each record the writer draws a salt,
computes the commitment to the record's canonical JSON and appends its leaf to the site's
RFC 9162 Merkle tree, whose right edge it keeps in memory. Tile hashes the batch completes and,
every N records or T seconds, a signed checkpoint go into the same transaction as the records.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from datetime import datetime
from queue import Empty, SimpleQueue
from typing import Any, Final, TypeAlias, cast

from sqlalchemy import Connection, Engine, LargeBinary, Table, func, insert, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlmodel import SQLModel

from gateway.audit.checkpoint import CheckpointPolicy, sign_checkpoint
from gateway.audit.entry import canonical_entry, commitment, detail_text, new_salt, ts_text
from gateway.audit.jcs import NotCanonicalizable
from gateway.audit.merkle import Frontier, Subtree, leaf_hash
from gateway.audit.tree_store import TreeDamaged, checkpoint_row, frontier_at, latest_checkpoint
from gateway.clock import utcnow
from gateway.records import NewRecord, RecordKind
from gateway.storage.engine import describe
from gateway.storage.errors import LogClosed, SeqConflict, StorageError, WriteFailed
from gateway.storage.models import AUDIT_CHECKPOINT_TABLE, AUDIT_NODE_TABLE, Record

log = logging.getLogger(__name__)

RECORD_TABLE: Final[Table] = SQLModel.metadata.tables[Record.__tablename__]

# Longest text each optional column takes; checked at submit so one bad record never fails
# the batch it would share (PostgreSQL enforces VARCHAR(n), SQLite would silently keep it).
_TEXT_FIELDS: Final = tuple(
    (column.name, int(getattr(column.type, "length", 0) or 0))
    for column in RECORD_TABLE.columns
    if column.name not in {"site_id", "kind"}
    and not isinstance(column.type, LargeBinary)  # salt and commitment: set by the writer
    and getattr(column.type, "length", None)
)

# What the writer is handed: insert parameters, the caller's future, and its event loop (None
# for a concurrent.futures.Future from :meth:`RecordLog.submit`).
_Item: TypeAlias = tuple[
    dict[str, Any], "asyncio.Future[int] | Future[int]", asyncio.AbstractEventLoop | None
]
_STOP: Final = object()  # queued by close(): the writer finishes what came before it, then ends

_NEW, _RUNNING, _CLOSED = "new", "running", "closed"

MAX_BATCH: Final = 10_000  # a sanity bound; past a few hundred records a batch gains nothing
_MAX_LANDED: Final = 10_000  # in-doubt records that landed, remembered until retried


@dataclass(frozen=True, slots=True)
class LogStats:
    """Counters of the writer since start: how the log batches under load."""

    records: int  # records committed
    batches: int  # commits that succeeded
    largest_batch: int  # most records one commit carried
    failed_batches: int  # commits that failed (their callers got a StorageError)


@dataclass(frozen=True, slots=True)
class _Doubt:
    """A batch whose connection died during its commit: did it land?"""

    first: int  # the seq its first record would have
    digests: tuple[bytes, ...]  # the commitments computed for its records, in order
    prints: tuple[bytes, ...]  # their fingerprints (canonical JSON with seq 0)


class RecordLog:
    """Append-only, durable, gap-free log of one site's records (4-8-7(1), 4-8-6(4))."""

    def __init__(
        self,
        engine: Engine,
        site_id: str,
        *,
        max_batch: int = 512,
        checkpoints: CheckpointPolicy | None = None,
    ) -> None:
        """Prepare a log for ``site_id`` on ``engine``; nothing runs until :meth:`start`.

        With ``checkpoints`` the writer signs a checkpoint every N records or T seconds.
        """
        if not site_id or len(site_id) > 63:
            raise ValueError(f"site id must be 1-63 characters, got {site_id!r}")
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be 1-{MAX_BATCH}, got {max_batch}")
        self._engine = engine
        self._site_id = site_id
        self._max_batch = max_batch
        # PostgreSQL runs the writer in autocommit: a lone record is one INSERT, one round trip,
        # one commit; a batch gets an explicit BEGIN and goes as one pipelined executemany.
        # SQLite: the driver's implicit transaction around the executemany, one fsync at commit.
        self._autocommit = engine.dialect.name == "postgresql"
        self._insert = insert(RECORD_TABLE)
        self._queue: SimpleQueue[_Item | object] = SimpleQueue()
        self._lock = threading.Lock()  # orders submits against close(): nothing queued after STOP
        self._state = _NEW
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._last_seq = 0
        self._fault: SeqConflict | None = None  # once set, the log refuses every append
        self._doubt: _Doubt | None = None  # a batch whose commit outcome is not known yet
        self._landed: dict[bytes, int] = {}  # fingerprint -> seq of in-doubt records that landed
        self._records = self._batches = self._largest = self._failed = 0
        self._policy = checkpoints
        self._frontier = Frontier()  # the tree's right edge at last_seq (rebuilt on connect)
        self._checkpoint_size = 0  # tree size of the newest stored checkpoint
        self._checkpoint_at = time.monotonic()

    @property
    def site_id(self) -> str:
        """The site whose records this log writes."""
        return self._site_id

    @property
    def last_seq(self) -> int:
        """The last committed sequence number (0 for an empty log)."""
        return self._last_seq

    @property
    def tree_root(self) -> bytes:
        """The Merkle tree head over records 1..last_seq (RFC 9162)."""
        return self._frontier.root()

    @property
    def checkpoint_size(self) -> int:
        """Tree size of the newest signed checkpoint (0 before the first)."""
        return self._checkpoint_size

    @property
    def stats(self) -> LogStats:
        """A snapshot of the writer's counters."""
        return LogStats(self._records, self._batches, self._largest, self._failed)

    def start(self) -> None:
        """Connect, read the site's highest seq and start the writer thread.

        Raises :class:`StorageError` when the database cannot be reached or is not migrated.
        """
        with self._lock:
            if self._state is not _NEW:
                raise LogClosed("a record log is started once; make a new one")
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = threading.Thread(
                target=self._run,
                args=(ready, failure),
                name=f"record-log[{self._site_id}]",
                daemon=True,  # never hold up interpreter exit; close() is the orderly way out
            )
            thread.start()
            ready.wait()
            if failure:
                thread.join()
                raise failure[0]
            self._thread = thread
            self._state = _RUNNING

    def close(self, timeout: float = 5.0) -> None:
        """Refuse new appends, let the writer commit everything already queued, then stop it.

        Raises :class:`WriteFailed` when the writer is still busy after ``timeout`` seconds; its
        pending callers are still answered when it finishes.
        """
        with self._lock:
            if self._state is _CLOSED:
                return
            self._state = _CLOSED
            if self._thread is None:
                return
            self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise WriteFailed(f"record writer of {self._site_id!r} still busy after {timeout} s")

    async def append(self, rec: NewRecord) -> int:
        """Append ``rec``; return its seq once the record is durably committed.

        Raises ValueError for a malformed record (naive ``ts``, unknown kind, over-long text,
        detail that is not JSON) and :class:`StorageError` when the commit fails. If the caller
        is cancelled while waiting, the record is still written.
        """
        params = _params(rec)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._enqueue((params, future, loop))
        return await future

    def submit(self, rec: NewRecord) -> Future[int]:
        """Queue ``rec`` from any thread; the future resolves to its seq after the commit."""
        params = _params(rec)
        future: Future[int] = Future()
        self._enqueue((params, future, None))
        return future

    def _enqueue(self, item: _Item) -> None:
        """Hand one record to the writer, or refuse it when the log is not running."""
        with self._lock:
            if self._state is not _RUNNING:
                raise LogClosed(f"record log of {self._site_id!r} is {self._state}")
            if self._fault is not None:
                raise SeqConflict(str(self._fault))
            self._queue.put(item)

    # --- writer thread ---------------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        """Writer thread: connect, then commit batches until the STOP marker."""
        try:
            self._connect(initial=True)
        except Exception as exc:  # noqa: BLE001  (start() re-raises it in the caller's thread)
            failure.append(exc)
            return
        finally:
            ready.set()
        queue, max_batch = self._queue, self._max_batch
        stopping = False
        while not stopping:
            try:
                first = queue.get(timeout=self._checkpoint_due_in())
            except Empty:
                self._checkpoint_alone()
                continue
            if first is _STOP:
                break
            batch = [cast(_Item, first)]
            while len(batch) < max_batch:
                try:
                    item = queue.get_nowait()
                except Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(cast(_Item, item))
            try:
                self._write(batch)
            except Exception as exc:  # a bug here must fail the callers, not hang them
                log.exception("record writer of %r failed unexpectedly", self._site_id)
                self._fail(batch, WriteFailed, f"record writer failed: {exc!r}")
        if self._policy is not None and self._frontier.size > self._checkpoint_size:
            self._checkpoint_alone()  # an orderly stop leaves the final state signed
        self._disconnect()

    def _connect(self, *, initial: bool = False) -> Connection:
        """Open the writer's connection and (re)read the site's highest committed seq."""
        try:
            conn = self._engine.connect()
            if self._autocommit:
                conn.execution_options(isolation_level="AUTOCOMMIT")
        except Exception as exc:  # noqa: BLE001  (any driver failure is a storage failure here)
            raise WriteFailed(
                f"cannot connect to {describe(self._engine)}: {_reason(exc)}"
            ) from None
        try:
            # A server set to synchronous_commit=off would acknowledge unflushed records.
            if (
                conn.dialect.name == "postgresql"
                and conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
            ):
                conn.exec_driver_sql("SET synchronous_commit TO on")
            last = conn.execute(
                select(func.coalesce(func.max(RECORD_TABLE.c.seq), 0)).where(
                    RECORD_TABLE.c.site_id == self._site_id
                )
            ).scalar_one()
            frontier = frontier_at(conn, self._site_id, int(last))
            stored = latest_checkpoint(conn, self._site_id)
            if self._doubt is not None:
                self._resolve_doubt(conn, self._doubt)
                self._doubt = None
            conn.commit()  # end the read: no snapshot or WAL read-mark held while idle
        except TreeDamaged as exc:
            conn.close()
            raise WriteFailed(
                f"the record log of {self._site_id!r} is damaged ({exc}): "
                "run `sekisho audit verify` before appending to it"
            ) from None
        except Exception as exc:  # noqa: BLE001  (missing table, dead server: all a storage failure)
            conn.close()
            raise WriteFailed(
                f"cannot read the record log of {self._site_id!r} in "
                f"{describe(self._engine)} (is the database migrated?): {_reason(exc)}"
            ) from None
        if not initial and last != self._last_seq:
            self._seq_moved(last)
        self._last_seq = int(last)
        self._frontier = frontier
        self._checkpoint_size = 0 if stored is None else stored.size
        self._conn = conn
        return conn

    def _seq_moved(self, last: int) -> None:
        """The log's head moved while the writer was disconnected: adopt it or refuse to go on."""
        if last < self._last_seq:
            self._fault = SeqConflict(
                f"record log of {self._site_id!r} went back from seq {self._last_seq} to "
                f"{last}: the database was replaced under a running writer"
            )
        else:
            # The commit that failed in flight did land (or another writer appended meanwhile).
            log.warning(
                "record log of %r: head moved from %d to %d while reconnecting",
                self._site_id,
                self._last_seq,
                last,
            )

    def _disconnect(self, *, discard: bool = False) -> None:
        """Close the writer's connection; ``discard`` keeps the pool from handing it out again."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if discard:
                    conn.invalidate()
                conn.close()
            except Exception:  # closing a broken connection may raise anything
                log.debug("closing the record writer's connection failed", exc_info=True)

    def _write(self, batch: list[_Item]) -> None:
        """Commit ``batch`` as seqs last_seq+1.. and answer each caller; fail them all on error."""
        if self._refused(batch):
            return
        try:
            conn = self._conn or self._connect()
        except StorageError as exc:
            self._failed += 1
            self._fail(batch, WriteFailed, str(exc))
            return
        if self._refused(batch):  # reconnecting found that the log went backwards
            return
        batch = self._answer_landed(batch)
        if not batch:
            return
        first = self._last_seq + 1
        site_id = self._site_id
        rows, digests, nodes, frontier = self._number(batch, first)
        checkpoint = self._checkpoint_row(frontier)
        try:
            if self._autocommit and (len(rows) > 1 or nodes or checkpoint):
                conn.exec_driver_sql("BEGIN")
            conn.execute(self._insert, rows)
            if nodes:
                conn.execute(
                    insert(AUDIT_NODE_TABLE),
                    [
                        {"site_id": site_id, "level": n.level, "idx": n.index, "hash": n.hash}
                        for n in nodes
                    ],
                )
            if checkpoint is not None:
                conn.execute(insert(AUDIT_CHECKPOINT_TABLE), checkpoint)
            conn.commit()
        except Exception as exc:  # noqa: BLE001  (every failure must reach the batch's callers)
            self._failed += 1
            # Fingerprints only now: the happy path does not pay for them.
            prints = tuple(_fingerprint(site_id, params) for params, _, _ in batch)
            self._after_failure(conn, batch, first, exc, _Doubt(first, tuple(digests), prints))
            return
        count = len(batch)
        self._frontier = frontier
        if checkpoint is not None:
            self._note_checkpoint(frontier.size)
        self._last_seq = first + count - 1
        self._records += count
        self._batches += 1
        self._largest = max(self._largest, count)
        self._answer(batch, first)

    def _number(
        self, batch: list[_Item], first: int
    ) -> tuple[list[dict[str, Any]], list[bytes], list[Subtree], Frontier]:
        """Give the batch seqs from ``first``: its rows, commitments, tree nodes and edge."""
        site_id = self._site_id
        rows = []
        digests: list[bytes] = []
        nodes: list[Subtree] = []
        frontier = self._frontier.copy(on_node=nodes.append)
        for offset, (params, _, _) in enumerate(batch):
            seq = first + offset
            params["site_id"] = site_id
            params["seq"] = seq
            detail = params.pop("_detail_text", None) or detail_text(params["detail"])
            ts = ts_text(params["ts"])
            salt = new_salt()
            digest = commitment(salt, canonical_entry(site_id, seq, ts, params, detail))
            params["salt"] = salt
            params["commitment"] = digest
            frontier.append(leaf_hash(digest))
            rows.append(params)
            digests.append(digest)
        return rows, digests, nodes, frontier

    # --- checkpoints ---------------------------------------------------------------------

    def _checkpoint_due_in(self) -> float | None:
        """Seconds until a checkpoint falls due; None while there is nothing new to sign."""
        if self._policy is None or self._frontier.size <= self._checkpoint_size:
            return None
        return max(0.0, self._checkpoint_at + self._policy.every_s - time.monotonic())

    def _checkpoint_row(
        self, frontier: Frontier, *, force: bool = False
    ) -> dict[str, object] | None:
        """A signed checkpoint of ``frontier`` if one is due (N records or T seconds)."""
        policy = self._policy
        if policy is None or frontier.size <= self._checkpoint_size:
            return None
        due = (
            force
            or frontier.size - self._checkpoint_size >= policy.every_records
            or time.monotonic() - self._checkpoint_at >= policy.every_s
        )
        if not due:
            return None
        signed = sign_checkpoint(
            policy.signer, policy.origin, frontier.size, frontier.root(), utcnow()
        )
        return checkpoint_row(self._site_id, signed, policy.signer.verifier().vkey)

    def _note_checkpoint(self, size: int) -> None:
        """A checkpoint at ``size`` is committed."""
        self._checkpoint_size = size
        self._checkpoint_at = time.monotonic()

    def _checkpoint_alone(self) -> None:
        """Sign and store a checkpoint of the current tree in its own transaction."""
        if self._fault is not None:
            self._checkpoint_at = time.monotonic()
            return
        try:
            conn = self._conn or self._connect()
            row = self._checkpoint_row(self._frontier, force=True)
            if row is None:
                return
            conn.execute(insert(AUDIT_CHECKPOINT_TABLE), row)
            conn.commit()
        except Exception as exc:  # noqa: BLE001  (a missed checkpoint is retried, never fatal)
            log.warning("record log of %r: checkpoint not stored: %s", self._site_id, _reason(exc))
            self._checkpoint_at = time.monotonic()  # try again one interval later
            self._disconnect(discard=True)
            return
        self._note_checkpoint(self._frontier.size)

    def _refused(self, batch: list[_Item]) -> bool:
        """Fail ``batch`` with the log's fault, if it has one; True when it did."""
        if self._fault is None:
            return False
        self._fail(batch, SeqConflict, str(self._fault))
        return True

    def _after_failure(
        self, conn: Connection, batch: list[_Item], first: int, exc: Exception, doubt: _Doubt
    ) -> None:
        """Roll back, then tell a seq conflict, a bad record or a storage failure apart."""
        lost_connection = isinstance(exc, OperationalError | InterfaceError) or getattr(
            exc, "connection_invalidated", False
        )
        try:
            conn.rollback()
        except Exception:  # noqa: BLE001  (a dead connection cannot roll back; it is dropped below)
            lost_connection = True
        if lost_connection:
            self._disconnect(discard=True)
            # The commit may have happened before the connection died: look at once if we can.
            self._doubt = doubt
            with contextlib.suppress(StorageError):
                self._connect()
            batch = self._answer_landed(batch)
            if not batch:
                return
        elif isinstance(exc, IntegrityError) and self._head_at_least(conn, first):
            self._fault = SeqConflict(
                f"another writer appended to the record log of {self._site_id!r} "
                f"(seq {first} is taken); this log stops at seq {self._last_seq}"
            )
            log.error("%s", self._fault)
            self._fail(batch, SeqConflict, str(self._fault))
            return
        elif len(batch) > 1:
            # The database is fine but something in the batch is not: isolate the culprit.
            for item in batch:
                self._write([item])
            return
        reason = _reason(exc)
        log.warning("record log of %r: commit of %d failed: %s", self._site_id, len(batch), reason)
        self._fail(batch, WriteFailed, f"record not stored in {describe(self._engine)}: {reason}")

    def _resolve_doubt(self, conn: Connection, doubt: _Doubt) -> None:
        """Look whether an in-doubt batch landed; remember the records that did."""
        last = doubt.first + len(doubt.digests) - 1
        rows = conn.execute(
            select(RECORD_TABLE.c.seq, RECORD_TABLE.c.commitment).where(
                RECORD_TABLE.c.site_id == self._site_id,
                RECORD_TABLE.c.seq >= doubt.first,
                RECORD_TABLE.c.seq <= last,
            )
        ).all()
        stored = {int(seq): bytes(digest) for seq, digest in rows}
        if not all(stored.get(doubt.first + i) == digest for i, digest in enumerate(doubt.digests)):
            log.warning(
                "record log of %r: the batch at seq %d..%d whose commit was in doubt "
                "did not land; it is written again when retried",
                self._site_id,
                doubt.first,
                last,
            )
            return
        for i, fingerprint in enumerate(doubt.prints):
            self._landed[fingerprint] = doubt.first + i
        while len(self._landed) > _MAX_LANDED:  # retries that never come (the caller gave up)
            del self._landed[next(iter(self._landed))]
        log.warning(
            "record log of %r: records %d..%d whose commit was in doubt did land; "
            "a retry of any of them is answered with its seq, not written again",
            self._site_id,
            doubt.first,
            last,
        )

    def _answer_landed(self, batch: list[_Item]) -> list[_Item]:
        """Answer the records already in the log (in-doubt commits that landed); the rest."""
        if not self._landed:
            return batch
        rest: list[_Item] = []
        per_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, int | BaseException]]] = {}
        for item in batch:
            params, future, loop = item
            seq = self._landed.pop(_fingerprint(self._site_id, params), None)
            if seq is None:
                rest.append(item)
            elif loop is None:
                _settle_concurrent(cast("Future[int]", future), seq)
            else:
                per_loop.setdefault(loop, []).append((future, seq))
        self._records += len(batch) - len(rest)
        _wake(per_loop)
        return rest

    def _head_at_least(self, conn: Connection, seq: int) -> bool:
        """True when the site's log already holds ``seq`` (someone else wrote it)."""
        try:
            head = conn.execute(
                select(func.max(RECORD_TABLE.c.seq)).where(RECORD_TABLE.c.site_id == self._site_id)
            ).scalar()
            conn.commit()
        except Exception:  # noqa: BLE001  (cannot tell: treat as an ordinary failed batch)
            self._disconnect(discard=True)
            return False
        return head is not None and int(head) >= seq

    def _answer(self, batch: Sequence[_Item], first: int) -> None:
        """Resolve each caller's future with its seq: one loop wake-up per event loop."""
        per_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, int | BaseException]]] = {}
        seq = first
        for _, future, loop in batch:
            if loop is None:
                _settle_concurrent(cast("Future[int]", future), seq)
            else:
                per_loop.setdefault(loop, []).append((future, seq))
            seq += 1
        _wake(per_loop)

    def _fail(self, batch: Sequence[_Item], error: type[StorageError], message: str) -> None:
        """Fail every caller of ``batch`` with its own ``error(message)``."""
        per_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, int | BaseException]]] = {}
        for _, future, loop in batch:
            exc = error(message)
            if loop is None:
                _settle_concurrent(cast("Future[int]", future), exc)
            else:
                per_loop.setdefault(loop, []).append((future, exc))
        _wake(per_loop)


def check_record(rec: NewRecord) -> None:
    """Raise ValueError or TypeError unless the log would store ``rec`` as given."""
    _params(rec)


def _fingerprint(site_id: str, params: dict[str, Any]) -> bytes:
    """A record's canonical JSON with seq 0: the same bytes for a retry of the same record."""
    detail = params.get("_detail_text") or detail_text(params["detail"])
    return canonical_entry(site_id, 0, ts_text(params["ts"]), params, detail)


def _params(rec: NewRecord) -> dict[str, Any]:
    """Insert parameters for ``rec``; ValueError when it could not be stored as given."""
    ts = rec.ts
    if not isinstance(ts, datetime) or ts.utcoffset() is None:
        raise ValueError(f"record ts must be a timezone-aware UTC datetime, got {ts!r}")
    params: dict[str, Any] = {
        "ts": ts,
        "kind": RecordKind(rec.kind).value,
        "door_id": rec.door_id,
        "zone_id": rec.zone_id,
        "reader_id": rec.reader_id,
        "person_id": rec.person_id,
        "person_kind": rec.person_kind,
        "credential": rec.credential,
        "direction": rec.direction,
        "outcome": rec.outcome,
        "reason": rec.reason,
        "actor": rec.actor,
        "detail": rec.detail,
    }
    for name, limit in _TEXT_FIELDS:
        value = params[name]
        if value is not None:
            _check_text(name, value, limit)
    if not isinstance(rec.detail, dict):
        raise TypeError(f"record detail must be a dict, got {type(rec.detail).__name__}")
    try:
        # ensure_ascii=False + encode also catches lone surrogates, which PostgreSQL refuses.
        json.dumps(rec.detail, allow_nan=False, ensure_ascii=False).encode()
        # What the record's commitment hashes (RFC 8785); computed here, off the writer thread.
        params["_detail_text"] = detail_text(rec.detail)
        params["_detail_text"].encode()
    except (TypeError, ValueError, RecursionError, NotCanonicalizable) as exc:
        raise ValueError(f"record detail is not plain JSON: {exc}") from None
    return params


def _check_text(name: str, value: object, limit: int) -> None:
    """Raise ValueError unless ``value`` is text both databases store unchanged."""
    if not isinstance(value, str):
        raise TypeError(f"record {name} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"record {name} is {len(value)} characters; at most {limit}")
    if "\x00" in value:
        raise ValueError(f"record {name} contains a NUL character")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"record {name} is not valid Unicode text") from None


def _reason(exc: BaseException) -> str:
    """The driver's own message for ``exc``, without SQLAlchemy's statement and parameters."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _settle_concurrent(future: Future[int], value: int | BaseException) -> None:
    """Resolve a concurrent future unless its caller cancelled it."""
    try:
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)
    except InvalidStateError:
        pass  # cancelled by the caller: the record was written all the same


def _wake(per_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, int | BaseException]]]) -> None:
    """Schedule the resolution of asyncio futures on their own loops."""
    for loop, outcomes in per_loop.items():
        # A RuntimeError means the caller's loop is closed: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_async, outcomes)


def _settle_async(outcomes: list[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    """On the caller's loop: resolve each future that is still waiting."""
    for future, value in outcomes:
        if future.done():
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)
