"""Stack dumps on demand, for a process that seems stuck: SIGUSR2 threads, SIGUSR1 tasks."""

from __future__ import annotations

import asyncio
import faulthandler
import signal
import sys


def install_thread_dump() -> None:
    """SIGUSR2 prints every thread's stack to stderr, even while the event loop is blocked."""
    faulthandler.register(signal.SIGUSR2, all_threads=True)


def install_task_dump(loop: asyncio.AbstractEventLoop) -> None:
    """SIGUSR1 prints every asyncio task's stack to stderr (needs a running loop)."""
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)


def dump_tasks() -> None:
    """Print the stack of every pending task of the running loop."""
    tasks = asyncio.all_tasks()
    sys.stderr.write(f"--- {len(tasks)} asyncio tasks ---\n")
    for task in tasks:
        sys.stderr.write(f"{task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(file=sys.stderr)
    sys.stderr.flush()
