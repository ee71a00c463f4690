"""PIN failure counts and lock-outs per credential, kept in memory and saved for restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select
from sqlmodel import SQLModel

from gateway.config.site import PinPolicy
from gateway.decision import PinCheck, PinLockout

log = logging.getLogger(__name__)

_TABLE = SQLModel.metadata.tables["credential_state"]


class PinStates:
    """Lock-out state per credential id (4-8-7(3): attempt limits with lock-out)."""

    def __init__(self, engine: Engine, site_id: str) -> None:
        self._engine = engine
        self._site_id = site_id
        self._states: dict[str, PinLockout] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def load(self) -> None:
        """Read saved states (at start)."""
        t = _TABLE.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(t.credential_id, t.pin_failures, t.locked_until).where(
                    t.site_id == self._site_id
                )
            ).all()
        self._states = {r.credential_id: PinLockout(r.pin_failures, r.locked_until) for r in rows}

    def get(self, credential_id: str) -> PinLockout | None:
        """The state of a credential, if it has one."""
        return self._states.get(credential_id)

    def after(
        self, credential_id: str, check: PinCheck, now: datetime, policy: PinPolicy
    ) -> PinLockout:
        """Apply one PIN attempt; saves the new state in the background when it changed."""
        old = self._states.get(credential_id, PinLockout())
        new = old.after(check, now, policy.max_failures, policy.lockout_s)
        if new != old:
            self._states[credential_id] = new
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(None, self._save, credential_id, new)
            self._tasks.add(fut)
            fut.add_done_callback(self._tasks.discard)
        return new

    def reset(self, credential_id: str) -> None:
        """Forget failures and lock-out (a new PIN was set); saved in the background."""
        if self._states.pop(credential_id, None) is not None:
            fut = asyncio.get_running_loop().run_in_executor(
                None, self._save, credential_id, PinLockout()
            )
            self._tasks.add(fut)
            fut.add_done_callback(self._tasks.discard)

    def _save(self, credential_id: str, state: PinLockout) -> None:
        t = _TABLE.c
        try:
            with self._engine.begin() as conn:
                conn.execute(delete(_TABLE).where(t.credential_id == credential_id))
                conn.execute(
                    insert(_TABLE).values(
                        credential_id=credential_id,
                        site_id=self._site_id,
                        pin_failures=state.failures,
                        locked_until=state.locked_until,
                    )
                )
        except Exception:  # the in-memory state still holds; the next change saves again
            log.exception("saving PIN state of credential %s failed", credential_id)

    async def flush(self) -> None:
        """Wait for pending saves (shutdown, tests)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
