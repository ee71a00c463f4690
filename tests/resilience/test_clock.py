"""Clock drill: the wall clock jumps back and forward; the log keeps its order, timers keep time.

The log's order is its seq, never its time stamps; door timers (strike relock, held-open) run
on the event loop's monotonic clock. The wall clock is the ``clock`` the core takes
(``Gateway(..., clock=...)``): the system clock is not touched. Real drivers on firmware-sim.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.audit.verify import verify_log
from gateway.clock import utcnow
from gateway.domain import DoorState
from gateway.records import RecordKind
from gateway.storage.models import RECORD_TABLE
from sekisho.simulated import FAST_DOORS, SimulatedSite, start_simulated_site, stop_simulated_site

K = RecordKind
TAG = "EM4100:10:305419896"
TAG2 = "EM4100:10:305419897"
WAIT = 30.0


@dataclass
class JumpingClock:
    """The real UTC time plus an offset the test moves."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        """Now, as the gateway's wall clock says."""
        return utcnow() + self.offset


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[SimulatedSite, JumpingClock]]:
    """The demo site (fast door timings) on a wall clock the test can jump."""
    clock = JumpingClock()
    h = await start_simulated_site(tmp_path / "site", clock=clock)
    zones = (("server-room", "always"), ("media-vault", "always"))
    await h.add_person("Suzuki Ichiro", TAG, zones=zones)
    await h.add_person("Kato Jun", TAG2, zones=zones)
    try:
        yield h, clock
    finally:
        await stop_simulated_site(h)


def _stored(h: SimulatedSite) -> list[tuple[int, datetime, str]]:
    """(seq, ts, kind) of every stored record, in seq order."""
    with h.engine.connect() as conn:
        return [
            (int(s), ts, k)
            for s, ts, k in conn.execute(
                select(RECORD_TABLE.c.seq, RECORD_TABLE.c.ts, RECORD_TABLE.c.kind).order_by(
                    RECORD_TABLE.c.seq
                )
            ).all()
        ]


async def test_wall_clock_back_and_forward_keeps_log_order_and_door_timers(site) -> None:  # type: ignore[no-untyped-def]
    """Jumps back and forward: timers on time, seqs in order, the log verifies."""
    h, clock = site
    strike_s = FAST_DOORS["strike_time_s"]
    held_s = FAST_DOORS["held_open_s"]

    # Grant, then the wall clock jumps back an hour before the strike time is over.
    after = h.last_seq
    grant_seq, granted = await h.badge("vault-in", TAG)
    assert granted.outcome == "granted"
    released_at = time.monotonic()
    clock.offset = timedelta(hours=-1)
    relock_seq, _ = await h.wait_record(
        lambda r: r.kind is K.ACCESS_NOT_TAKEN, within=WAIT, after=after
    )
    waited = time.monotonic() - released_at
    # The strike relocked after its strike time (monotonic), not an hour later nor at once.
    assert strike_s - 0.5 <= waited <= strike_s + 10, waited
    await h.wait_until(lambda: not h.sim.door_view("vault-door")["strike_released"], WAIT)
    assert relock_seq > grant_seq

    # The wall clock jumps forward a day while the door is held open: the held-open alarm
    # comes after held_open_s of real time, not at once.
    clock.offset = timedelta(days=1)
    mark = h.last_seq
    _, second = await h.badge("vault-in", TAG2)
    assert second.outcome == "granted"
    await h.sim.door("vault-door", "hold")
    opened_at = time.monotonic()
    await h.wait_record(lambda r: r.kind is K.ACCESS_TAKEN, within=WAIT, after=mark)
    clock.offset = timedelta(days=1, hours=2)  # and once more while it is open
    await h.wait_record(lambda r: r.kind is K.DOOR_HELD, within=WAIT, after=mark)
    held_after = time.monotonic() - opened_at
    assert held_s - 0.5 <= held_after <= held_s + 10, held_after
    await h.sim.door("vault-door", "close")
    await h.wait_until(
        lambda: h.door_state("vault-door") is DoorState.LOCKED, WAIT, "vault door locked"
    )

    # The log: seqs gap-free and increasing in commit order, whatever the time stamps say.
    stored = _stored(h)
    seqs = [s for s, _, _ in stored]
    assert seqs == list(range(1, len(seqs) + 1))
    announced = [s for s, _ in h.written]
    assert announced == sorted(announced)
    by_seq = {s: ts for s, ts, _ in stored}
    # The jumps are in the time stamps: one went back an hour, one forward a day.
    assert by_seq[relock_seq] < by_seq[grant_seq]
    assert max(by_seq.values()) - by_seq[grant_seq] > timedelta(hours=23)
    assert verify_log(h.engine, h.config.site.id).ok
