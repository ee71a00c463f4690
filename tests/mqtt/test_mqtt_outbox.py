"""The outbox table on SQLite and PostgreSQL: order, deletion, per-site rows, restarts.

It is not the record log: its rows are deleted once the broker has them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from gateway.mqtt.outbox import Outbox, OutboxEvent

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _events(n: int, start: int = 0) -> list[OutboxEvent]:
    """``n`` events, a millisecond apart."""
    return [
        OutboxEvent(f"p/event/{i}", f'{{"n":{i}}}'.encode(), T0 + timedelta(milliseconds=i))
        for i in range(start, start + n)
    ]


def test_events_come_out_in_the_order_they_went_in(engine: Engine) -> None:
    """head() is oldest first with each original time; remove_through deletes a prefix."""
    box = Outbox(engine, "s1")
    box.add(_events(5))
    box.add(_events(5, start=5))
    rows = box.head(100)
    assert [r.topic for r in rows] == [f"p/event/{i}" for i in range(10)]
    assert [r.created_at for r in rows] == [T0 + timedelta(milliseconds=i) for i in range(10)]
    assert rows[3].payload == b'{"n":3}'
    assert box.remove_through(rows[3].id) == 4
    assert [r.topic for r in box.head(3)] == ["p/event/4", "p/event/5", "p/event/6"]
    assert box.count() == 6


def test_ids_keep_growing_after_the_outbox_was_emptied(engine: Engine) -> None:
    """Emptied and refilled (and reopened, as after a restart), order is still id order."""
    box = Outbox(engine, "s1")
    box.add(_events(3))
    last = box.head(10)[-1].id
    box.remove_through(last)
    assert box.count() == 0
    again = Outbox(engine, "s1")
    again.add(_events(2, start=100))
    ids = [r.id for r in again.head(10)]
    assert ids[0] > last and ids == sorted(ids)


def test_sites_do_not_see_each_others_events(engine: Engine) -> None:
    """One database, several sites: each outbox is its own."""
    a, b = Outbox(engine, "a"), Outbox(engine, "b")
    a.add(_events(2))
    b.add(_events(3))
    assert (a.count(), b.count()) == (2, 3)
    a.remove_through(max(r.id for r in b.head(10)))
    assert (a.count(), b.count()) == (0, 3)


def test_a_large_batch_keeps_its_order(engine: Engine) -> None:
    """One add() of many rows (one executemany) still gives ids in list order."""
    box = Outbox(engine, "s1")
    events = _events(1000)[::-1]  # times run backwards: only the list order may decide
    box.add(events)
    rows = box.head(1000)
    assert [r.topic for r in rows] == [e.topic for e in events]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
