"""Wiring of issue 4 into a running site: the signed record log, the site lock, the chores.

``serve`` builds the gateway around :attr:`AuditRuntime.log` (a record log that signs
checkpoints with the site's key), holds the site's writer lock while it runs (so that offline
commands that write, such as ``sekisho restore``, refuse to run beside it) and runs the daily
purge and the periodic analyses (``gateway.audit.scheduler``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import ExitStack
from typing import TYPE_CHECKING

from gateway.audit.checkpoint import CheckpointPolicy
from gateway.audit.keyfile import KeyFileError, create_key_file, load_signer
from gateway.audit.scheduler import AuditSchedule
from gateway.audit.site_lock import site_lock
from gateway.runtime import Gateway
from gateway.storage.record_log import RecordLog

if TYPE_CHECKING:
    from sekisho.app import Site  # app.py imports this module

log = logging.getLogger(__name__)


def checkpoint_policy(site: Site) -> CheckpointPolicy | None:
    """The site's checkpoint policy, or None (with a warning) when it has no key yet."""
    audit = site.config.audit
    path = site.base / audit.checkpoint_key
    if not path.exists():
        log.warning(
            "no checkpoint key at %s: records are hashed but no checkpoint is signed; "
            "create one with `sekisho keys create-checkpoint-key`",
            path,
        )
        return None
    signer = load_signer(path)  # KeyFileError when unreadable or readable by others
    return CheckpointPolicy(
        signer,
        audit.origin_for(site.config.site.id),
        every_records=audit.checkpoint_every_records,
        every_s=audit.checkpoint_every_s,
    )


def ensure_checkpoint_key(site: Site) -> bool:
    """Create the site's checkpoint key if it has none (the demo does); True when created."""
    path = site.base / site.config.audit.checkpoint_key
    if path.exists():
        return False
    try:
        create_key_file(path, site.config.audit.origin_for(site.config.site.id))
    except KeyFileError:
        return False  # made meanwhile by someone else: fine
    return True


class AuditRuntime:
    """The signed log, the site lock and the audit chores of one running site."""

    def __init__(self, site: Site) -> None:
        """Prepare the record log the gateway will write through."""
        self._site = site
        self.log = RecordLog(site.engine, site.config.site.id, checkpoints=checkpoint_policy(site))
        self._stack = ExitStack()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Take the site lock and open the log (before the gateway starts)."""
        self._stack.enter_context(site_lock(self._site.engine, self._site.config.site.id))
        self.log.start()

    def start_chores(self, gateway: Gateway) -> None:
        """Run the scheduled purge and analyses beside the gateway."""
        schedule = AuditSchedule(self._site.config, self._site.engine, gateway.record)
        self._task = asyncio.get_running_loop().create_task(schedule.run(), name="audit-chores")

    async def stop(self) -> None:
        """Stop the chores, close the log (signing its final state), release the lock."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.log.close)
        finally:
            self._stack.close()
