"""The refresh pump: one thread drives every control panel, each on its own period."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from devices.osdp_pump import RefreshPump


class FakePanel:
    """Counts its refreshes and notes which thread made them."""

    def __init__(self, refresh_s: float, work: Callable[[], None] | None = None) -> None:
        self.refresh_s = refresh_s
        self.count = 0
        self.threads: set[int] = set()
        self._work = work

    def refresh_once(self) -> None:
        self.count += 1
        self.threads.add(threading.get_ident())
        if self._work is not None:
            self._work()


def _until(check: Callable[[], bool], within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return check()


def test_one_thread_refreshes_every_panel_on_its_own_period() -> None:
    pump = RefreshPump("test-pump")
    fast, slow = FakePanel(0.001), FakePanel(0.05)
    pump.add(fast)
    pump.add(slow)
    try:
        time.sleep(0.5)
    finally:
        pump.remove(fast)
        pump.remove(slow)
    assert fast.threads == slow.threads
    assert len(fast.threads) == 1
    assert threading.get_ident() not in fast.threads
    # 0.5 s: the slow panel about 10 times (first refresh at once), the fast one far more often.
    assert 5 <= slow.count <= 12
    assert fast.count >= 10 * slow.count


def test_thread_ends_with_the_last_panel_and_starts_again() -> None:
    pump = RefreshPump("test-pump")
    a, b = FakePanel(0.001), FakePanel(0.001)
    pump.add(a)
    pump.add(b)
    assert pump.running
    pump.remove(a)
    assert _until(lambda: b.count > 5)
    assert pump.running  # b is still there
    pump.remove(b)
    assert _until(lambda: not pump.running)
    counted = b.count
    time.sleep(0.05)
    assert b.count == counted  # no refresh after the pump stopped
    pump.add(a)
    assert _until(lambda: pump.running and a.count > 0)
    pump.remove(a)
    assert _until(lambda: not pump.running)


def test_panel_added_later_is_refreshed_without_waiting_for_a_slow_one() -> None:
    pump = RefreshPump("test-pump")
    slow, fast = FakePanel(10.0), FakePanel(0.001)
    pump.add(slow)
    try:
        assert _until(lambda: slow.count == 1)
        pump.add(fast)  # the pump was asleep until the slow panel's next refresh, 10 s away
        assert _until(lambda: fast.count >= 20, within=1.0)
    finally:
        pump.remove(slow)
        pump.remove(fast)
