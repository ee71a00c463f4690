"""Which records are still to be sent as events, and where each comes from: memory or the log.

No I/O here (the service reads the log and the broker answers); just the bookkeeping, so that
it can be tested on its own. Seqs are the record log's: gap-free, so every seq below one that
was announced is committed too.

- ``cursor``: every published record with ``seq <= cursor`` was acknowledged by the broker.
- ``(cursor, boundary]``: sent from the record log (after a start, an outage, a gap); ``in_log``
  of those records are published ones (counted in the database).
- ``> boundary``: the records as the bus announced them (``live``), sent from memory while the
  stream keeps up. A seq the bus has not announced (its writer was cancelled, say) leaves a
  gap; after a moment the stream falls back to the log up to the newest announced seq.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.records import NewRecord


@dataclass(frozen=True, slots=True)
class Fold:
    """Records up to ``through`` are to be read from the log: count the published ones in
    ``(after, through]`` and hand the count to :meth:`RecordStream.folded`."""

    after: int
    through: int


class RecordStream:
    """The record events not yet acknowledged, in seq order."""

    def __init__(self, cursor: int, head: int, in_log: int) -> None:
        """Start at ``cursor`` with the log's ``head`` and ``in_log`` published records between."""
        self.cursor = cursor
        self.boundary = max(cursor, head)
        self.in_log = in_log
        self.head = self.boundary  # the highest seq known to be committed
        self.live: dict[int, NewRecord | None] = {}  # seq > boundary -> record (None: not sent)
        self.live_published = 0
        self._folding = False

    @property
    def backlog(self) -> int:
        """Published records not yet acknowledged."""
        return self.in_log + self.live_published

    @property
    def reading_log(self) -> bool:
        """True while records after the cursor are to be read from the log."""
        return self.cursor < self.boundary

    def announce(self, seq: int, rec: NewRecord, *, published: bool) -> None:
        """The bus announced a committed record."""
        self.head = max(self.head, seq)
        if seq <= self.boundary or seq <= self.cursor or seq in self.live:
            return  # the log's part (counted there), sent already, or announced twice
        self.live[seq] = rec if published else None
        if published:
            self.live_published += 1

    def gap(self) -> bool:
        """True when records wait in memory but the next one after the cursor is missing."""
        return not self.reading_log and bool(self.live) and self.cursor + 1 not in self.live

    def take_live(self, limit: int) -> list[tuple[int, NewRecord | None]]:
        """Up to ``limit`` records from the cursor on, in seq order, while they follow each
        other without a gap; taken out of memory (a failed send falls back to the log)."""
        out: list[tuple[int, NewRecord | None]] = []
        if self.reading_log:
            return out
        live = self.live
        seq = self.cursor + 1
        while len(out) < limit and seq in live:
            out.append((seq, live.pop(seq)))  # still counted in the backlog until acknowledged
            seq += 1
        return out

    def fold(self, through: int | None = None) -> Fold | None:
        """Read everything up to ``through`` (default: every seq known) from the log from now
        on; None when there is nothing to fold. Call :meth:`folded` with the count."""
        start = max(self.boundary, self.cursor)
        target = self.head if through is None else max(start, through)
        if target <= start or self._folding:
            return None
        self._folding = True
        fold = Fold(start, target)
        self.boundary = target
        for seq in [s for s in self.live if s <= target]:
            del self.live[seq]
        self.head = max(self.head, target)
        return fold

    def folded(self, fold: Fold, published: int) -> None:
        """``published`` records of ``fold``'s range are counted: they are the log's now."""
        self._folding = False
        self.in_log += published
        self.live_published = sum(1 for r in self.live.values() if r is not None)

    def fold_failed(self, fold: Fold) -> None:
        """The count failed: the range stays the log's, every seq of it counted (at most that
        many wait; exact again once the cursor has passed it)."""
        self._folding = False
        self.in_log += fold.through - fold.after
        self.live_published = sum(1 for r in self.live.values() if r is not None)

    def acknowledged(self, through: int, published: int, *, from_log: bool) -> None:
        """The broker has every published record up to ``through`` (``published`` of them
        were sent in the batch that ends there)."""
        if through <= self.cursor:
            return
        self.cursor = through
        if from_log:
            self.in_log = 0 if through >= self.boundary else max(0, self.in_log - published)
        else:
            self.live_published = max(0, self.live_published - published)
        for seq in [s for s in self.live if s <= through]:
            rec = self.live.pop(seq)
            if rec is not None:
                self.live_published -= 1

    def skip(self, through: int, skipped: int) -> None:
        """The oldest ``skipped`` published records, up to ``through``, will not be sent."""
        self.cursor = max(self.cursor, through)
        self.in_log = max(0, self.in_log - skipped)
