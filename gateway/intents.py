"""The outbox of operator records: a change and its record commit together (4-8-6(4)).

An API route or a core service (visits, contractors, media custody, incidents, alarms) stages
the record of its change in the change's own session (:func:`stage`): a ``pending_record`` row
commits atomically with the change (:func:`commit`). After the commit the record, its
``detail.intent`` naming the row, is appended to the log and the row deleted
(:meth:`IntentOutbox.write_all`). A crash between the two leaves the row behind;
:meth:`IntentOutbox.recover` appends it at the next start with its original ``ts`` — unless a
record with that intent is already in the log (a crash after the append, before the delete):
then only the row goes. An append that fails (storage outage)
is held by the ``Recorder`` and retried; its row stays until the retry has written it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Engine, delete, inspect, select
from sqlmodel import Session, col

from gateway.bus import Bus
from gateway.core_events import RecordWritten
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import RECORD_TABLE, PendingRecord
from gateway.storage.record_log import check_record

log = logging.getLogger(__name__)

Staged = list[tuple[int, NewRecord]]  # (intent, record) of rows a commit stored
INTENT = "intent"  # detail key: the id of the pending row the record was staged as
_STAGED = "sekisho.staged_records"  # Session.info key: rows staged in this session
_FIELDS = (
    "door_id",
    "zone_id",
    "reader_id",
    "person_id",
    "person_kind",
    "credential",
    "direction",
    "outcome",
    "reason",
    "actor",
)


def to_json(rec: NewRecord) -> dict[str, object]:
    """``rec`` as the JSON a pending row keeps: kind, ts (ISO 8601), every field, detail."""
    out: dict[str, object] = {"kind": rec.kind.value, "ts": rec.ts.isoformat()}
    out.update({name: getattr(rec, name) for name in _FIELDS})
    out["detail"] = rec.detail
    return out


def from_json(data: dict[str, object]) -> NewRecord:
    """The record a pending row keeps; KeyError, TypeError or ValueError when it is malformed."""
    detail = data["detail"]
    ts = data["ts"]
    if not isinstance(detail, dict) or not isinstance(ts, str):
        raise TypeError("detail must be an object and ts a string")
    fields: dict[str, str | None] = {}
    for name in _FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be text")
        fields[name] = value
    return NewRecord(
        kind=RecordKind(str(data["kind"])), ts=datetime.fromisoformat(ts), detail=detail, **fields
    )


def with_intent(rec: NewRecord, intent: int) -> NewRecord:
    """``rec`` with the id of its pending row in its detail."""
    return replace(rec, detail={**rec.detail, INTENT: intent})


def intent_of(rec: NewRecord) -> int | None:
    """The pending row a record was staged as, if it was."""
    value = rec.detail.get(INTENT)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stage(session: Session, site_id: str, rec: NewRecord) -> PendingRecord:
    """Add ``rec`` to the change's transaction as a pending row; ValueError if the log won't."""
    check_record(rec)
    row = PendingRecord(site_id=site_id, record=to_json(rec))
    session.add(row)
    session.info.setdefault(_STAGED, []).append((row, rec))
    return row


def take_staged(session: Session) -> Staged:
    """After the commit: (intent, record) of each staged row that committed (not rolled back)."""
    staged: list[tuple[PendingRecord, NewRecord]] = session.info.pop(_STAGED, [])
    out = []
    for row, rec in staged:
        if inspect(row).persistent and row.id is not None:
            out.append((row.id, with_intent(rec, row.id)))
    return out


def commit(session: Session) -> Staged:
    """Commit the change with its staged rows; the (intent, record) pairs to write after it."""
    session.commit()
    return take_staged(session)


def forget(session: Session, intents: Collection[int]) -> None:
    """Delete the pending rows of records now in the log (the caller commits)."""
    if intents:
        session.exec(delete(PendingRecord).where(col(PendingRecord.id).in_(list(intents))))


class IntentOutbox:
    """The core's side: appends staged records, holds failed ones, recovers at start."""

    def __init__(self, engine: Engine, site_id: str, recorder: Recorder, bus: Bus) -> None:
        """Serve ``site_id``'s pending rows on ``engine`` through ``recorder``."""
        self._engine = engine
        self._site_id = site_id
        self._recorder = recorder
        self._held: set[int] = set()  # intents whose append failed: the Recorder retries them
        self._cleanups: set[asyncio.Task[None]] = set()
        bus.subscribe(RecordWritten, self._on_written)

    async def write(self, rec: NewRecord) -> int | None:
        """Append a staged record; on a storage failure hold it for retry and return None."""
        try:
            return await self._recorder.append(rec)
        except (ValueError, TypeError):
            raise  # refused as given (stage() checks it first): retrying could never help
        except Exception as exc:  # noqa: BLE001 -- any storage failure: held, never lost
            intent = intent_of(rec)
            if intent is not None:
                self._held.add(intent)
            self._recorder.keep(rec, exc)
            log.warning(
                "operator record (intent %s) not written yet (%s): held for retry, "
                "its pending row stays",
                intent,
                exc,
            )
            return None

    async def write_all(self, staged: Sequence[tuple[int, NewRecord]]) -> list[int | None]:
        """After the commit: append staged records in order, then delete the written rows."""
        seqs = [await self.write(rec) for _, rec in staged]
        done = [intent for (intent, _), seq in zip(staged, seqs, strict=True) if seq is not None]
        if done:
            await self._cleanup(done)
        return seqs

    async def recover(self) -> int:
        """Append what a crash left pending (id order, own ts); returns how many were appended."""
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(None, self._pending)
        appended = already = 0
        done: list[int] = []
        try:
            for intent, data in rows:
                try:
                    rec = with_intent(from_json(data), intent)
                    check_record(rec)
                except (KeyError, TypeError, ValueError) as exc:
                    log.critical(
                        "pending record %d is malformed (%s): left in place, not appended",
                        intent,
                        exc,
                    )
                    continue
                if await loop.run_in_executor(None, self._in_log, rec, intent):
                    already += 1
                else:
                    await self._recorder.append(rec)
                    appended += 1
                done.append(intent)
        finally:
            if done:
                await loop.run_in_executor(None, self._delete, done)
        log.info(
            "operator-record outbox of %s: %d record(s) recovered, %d already in the log",
            self._site_id,
            appended,
            already,
        )
        return appended

    def _pending(self) -> list[tuple[int, dict[str, object]]]:
        """The site's pending rows in id order."""
        stmt = (
            select(col(PendingRecord.id), col(PendingRecord.record))
            .where(col(PendingRecord.site_id) == self._site_id)
            .order_by(col(PendingRecord.id))
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [(intent, record) for intent, record in rows if intent is not None]

    def _in_log(self, rec: NewRecord, intent: int) -> bool:
        """True when the log already holds the record staged as ``intent``."""
        stmt = select(RECORD_TABLE.c.detail).where(
            RECORD_TABLE.c.site_id == self._site_id,
            RECORD_TABLE.c.kind == rec.kind.value,
            RECORD_TABLE.c.ts == rec.ts,
        )
        with self._engine.connect() as conn:
            details = conn.execute(stmt).scalars().all()
        return any(isinstance(d, dict) and d.get(INTENT) == intent for d in details)

    def _delete(self, intents: Collection[int]) -> None:
        """Delete pending rows in one transaction."""
        with Session(self._engine) as session:
            forget(session, intents)
            session.commit()

    def _on_written(self, event: RecordWritten) -> None:
        """A held record was written by the Recorder's retry: its row can go."""
        intent = intent_of(event.record)
        if intent is None or intent not in self._held:
            return
        self._held.discard(intent)
        task = asyncio.get_running_loop().create_task(self._cleanup([intent]))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _cleanup(self, intents: list[int]) -> None:
        """Delete rows off the loop; on failure the next start removes them."""
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._delete, intents)
        except Exception as exc:  # noqa: BLE001 -- the row is harmless: recovery sees it is logged
            log.warning("pending records %s not deleted (%s); the next start does", intents, exc)
