"""Stack dumps on demand (``sekisho.diagnostics``), in a real child process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

CHILD = """
import asyncio, sys, time
from sekisho.diagnostics import install_task_dump, install_thread_dump

async def parked_forever():
    await asyncio.Event().wait()

async def main():
    install_thread_dump()
    install_task_dump(asyncio.get_running_loop())
    asyncio.get_running_loop().create_task(parked_forever(), name="parked")
    print("ready", flush=True)
    await asyncio.sleep(0.5)
    time.sleep(30)  # the loop is blocked now: only the thread dump can answer

asyncio.run(main())
"""


def test_usr1_dumps_tasks_and_usr2_dumps_threads_while_the_loop_is_blocked() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGUSR1)  # the loop still runs for 0.5 s
        time.sleep(1.0)
        child.send_signal(signal.SIGUSR2)  # the loop is blocked in time.sleep
        time.sleep(0.5)
    finally:
        child.kill()
        _, err = child.communicate(timeout=10)
    assert "asyncio tasks ---" in err
    assert "parked" in err and "parked_forever" in err
    threads = err.partition("Current thread")[2]
    assert " in main" in threads  # the blocked loop thread, caught inside main()
