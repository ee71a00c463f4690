"""Stopping tasks for sure: cancel, wait a bounded time, cancel again.

Python 3.11's ``asyncio.wait_for`` can swallow a cancellation that arrives just as the awaited
future completes; a worker loop then carries on as if nothing happened and a plain
``await task`` after ``task.cancel()`` never returns. Here a task is cancelled again until it
is done, and the wait is bounded. (The service itself uses ``asyncio.timeout``, which keeps
cancellations.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], within: float) -> bool:
    """Cancel ``tasks`` and wait until they are done, at most ``within`` seconds.

    True when all are done; the ones still running after that are logged and left.
    """
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pending:
        for t in pending:
            t.cancel()
        left = deadline - loop.time()
        if left <= 0:
            log.warning(
                "tasks still running after %.1f s: %s",
                within,
                sorted(t.get_name() for t in pending),
            )
            return False
        _, pending = await asyncio.wait(pending, timeout=min(0.2, left))
    return True
