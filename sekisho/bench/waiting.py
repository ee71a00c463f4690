"""Waiting for a condition another component owns (a counter, a set of arrivals)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(condition: Callable[[], bool], within_s: float, step_s: float = 0.01) -> bool:
    """Poll ``condition`` until it holds (True) or ``within_s`` passes (False)."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step_s)
    return True
