"""The record stream's bookkeeping on its own: order, gaps, folds to the log, the backlog count.

The service around it is tested against the real broker (test_mqtt_outage, test_mqtt_cursor);
here every path is walked by hand, including ones a live run rarely takes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.mqtt.stream import RecordStream
from gateway.records import NewRecord, RecordKind

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _rec(n: int) -> NewRecord:
    """A published record."""
    return NewRecord(RecordKind.SYSTEM, T0, detail={"n": n})


def _announce(s: RecordStream, *seqs: int, published: bool = True) -> None:
    """The bus announces these seqs."""
    for seq in seqs:
        s.announce(seq, _rec(seq), published=published)


def test_records_go_out_from_memory_in_seq_order() -> None:
    """Announced out of order, taken in order; the backlog counts what is not acknowledged."""
    s = RecordStream(cursor=10, head=10, in_log=0)
    _announce(s, 12, 11, 13)
    assert s.backlog == 3 and not s.reading_log
    taken = s.take_live(2)
    assert [seq for seq, _ in taken] == [11, 12]
    assert s.backlog == 3  # taken is not delivered
    s.acknowledged(12, 2, from_log=False)
    assert (s.cursor, s.backlog) == (12, 1)
    assert [seq for seq, _ in s.take_live(10)] == [13]


def test_records_not_published_are_passed_over_but_covered_by_the_cursor() -> None:
    """An operator record between events moves the cursor without being counted or sent."""
    s = RecordStream(cursor=0, head=0, in_log=0)
    _announce(s, 1)
    _announce(s, 2, published=False)
    _announce(s, 3)
    assert s.backlog == 2
    taken = s.take_live(10)
    assert [(seq, rec is None) for seq, rec in taken] == [(1, False), (2, True), (3, False)]
    s.acknowledged(3, 2, from_log=False)
    assert (s.cursor, s.backlog, s.live) == (3, 0, {})


def test_a_missing_seq_is_a_gap_and_the_log_takes_over_up_to_the_newest() -> None:
    """Seq 11 never announced (its writer was cancelled): nothing after it goes from memory;
    a fold hands (10, 13] to the log, counted there, and later seqs stay in memory."""
    s = RecordStream(cursor=10, head=10, in_log=0)
    _announce(s, 12, 13)
    assert s.gap() and s.take_live(10) == []
    fold = s.fold()
    assert fold is not None and (fold.after, fold.through) == (10, 13)
    _announce(s, 14)  # arrives while the log is counted
    _announce(s, 12)  # a late repeat of the log's part: ignored
    s.folded(fold, 3)  # 11, 12 and 13 are published
    assert s.reading_log and s.backlog == 4 and not s.gap()
    assert s.take_live(10) == []  # the log's part first
    s.acknowledged(13, 3, from_log=True)
    assert (s.cursor, s.in_log, s.reading_log) == (13, 0, False)
    assert [seq for seq, _ in s.take_live(10)] == [14]


def test_a_failed_send_folds_what_was_taken_back_to_the_log() -> None:
    """Taken from memory, half acknowledged, then the link drops: the rest is the log's."""
    s = RecordStream(cursor=0, head=0, in_log=0)
    _announce(s, *range(1, 11))
    taken = s.take_live(6)
    assert [seq for seq, _ in taken] == [1, 2, 3, 4, 5, 6]
    s.acknowledged(3, 3, from_log=False)  # the broker answered 1..3 before the line dropped
    fold = s.fold(6)
    assert fold is not None and (fold.after, fold.through) == (3, 6)
    s.folded(fold, 3)
    assert s.backlog == 3 + 4  # 4..6 in the log, 7..10 still in memory
    s.acknowledged(6, 3, from_log=True)
    assert [seq for seq, _ in s.take_live(10)] == [7, 8, 9, 10]


def test_start_reads_the_log_after_the_stored_cursor() -> None:
    """After a restart: (cursor, head] is the log's, counted at start; later ones in memory."""
    s = RecordStream(cursor=100, head=250, in_log=120)
    _announce(s, 200, 251)
    assert s.reading_log and s.backlog == 121 and s.take_live(10) == []
    s.acknowledged(180, 60, from_log=True)
    assert s.backlog == 61
    s.acknowledged(250, 60, from_log=True)
    assert (s.in_log, s.reading_log) == (0, False)
    assert [seq for seq, _ in s.take_live(10)] == [251]


def test_a_repeat_and_an_old_seq_are_not_counted_twice() -> None:
    """The same seq twice, or one already delivered, changes nothing."""
    s = RecordStream(cursor=5, head=5, in_log=0)
    _announce(s, 6, 6, 4)
    assert s.backlog == 1 and list(s.live) == [6]


def test_skipping_the_oldest_moves_the_cursor_and_the_count() -> None:
    """Beyond the cap the oldest published records are skipped."""
    s = RecordStream(cursor=0, head=1000, in_log=1000)
    s.skip(400, 400)
    assert (s.cursor, s.backlog) == (400, 600)


def test_a_fold_failure_leaves_the_range_to_the_log() -> None:
    """The count failed: the range is still read from the log, every seq of it counted (never
    less than waits: a backlog of 0 means delivered); exact once the cursor passes it."""
    s = RecordStream(cursor=0, head=0, in_log=0)
    _announce(s, 2, 3)
    fold = s.fold()
    assert fold is not None
    s.fold_failed(fold)
    assert s.reading_log and s.backlog == 3
    assert s.fold() is None  # nothing newer to fold
    s.acknowledged(3, 2, from_log=True)
    assert (s.cursor, s.backlog) == (3, 0)
