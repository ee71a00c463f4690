"""Notifications: telling a role (a zone's manager, the chief) about an alarm or an incident.

A notification is a ``notification.sent`` record naming the accounts that hold the role, and a
``NotificationSent`` on the bus (the live feed and MQTT carry it on). Clauses 4-8-11(1)(3):
the protection manager is told at once, and the report goes up to the chief.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from gateway.bus import Bus
from gateway.clock import utcnow
from gateway.core_events import NotificationSent
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import Account

log = logging.getLogger(__name__)

CHIEF = "chief"  # api.roles.Role.CHIEF (gateway does not import api)
MANAGER = "manager"  # api.roles.Role.MANAGER


def write(recorder: Recorder, rec: NewRecord) -> None:
    """Submit a record; if the log cannot take it now (not started yet), keep it for retry."""
    try:
        recorder.submit(rec)
    except Exception as exc:  # noqa: BLE001 -- any log refusal: the recorder retries, never drops
        log.warning("record %s kept for retry: %s", rec.kind.value, exc)
        recorder.keep(rec)


class Notifier:
    """Writes notifications for one site."""

    def __init__(
        self,
        engine: Engine,
        site_id: str,
        recorder: Recorder,
        bus: Bus,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Look accounts up in ``engine``; write through ``recorder``; announce on ``bus``."""
        self._engine = engine
        self._site_id = site_id
        self._recorder = recorder
        self._bus = bus
        self._clock = clock

    def recipients(self, role: str, zone_id: str | None) -> tuple[str, ...]:
        """Enabled accounts holding ``role`` (managers: of ``zone_id``); blocking."""
        with Session(self._engine) as s:
            rows = s.exec(
                select(Account).where(
                    Account.site_id == self._site_id,
                    Account.role == role,
                    Account.enabled == True,  # noqa: E712 -- SQL comparison, not a Python test
                )
            )
            return tuple(
                sorted(
                    a.username
                    for a in rows
                    if role != MANAGER or zone_id is None or zone_id in (a.zones or [])
                )
            )

    async def notify(
        self, role: str, zone_id: str | None, subject: str, ref: str, actor: str | None = None
    ) -> NotificationSent:
        """Tell ``role`` (in ``zone_id``) about ``ref``: a record and a bus event."""
        try:
            who = await asyncio.get_running_loop().run_in_executor(
                None, self.recipients, role, zone_id
            )
        except Exception:  # the notification is written even if lookup fails
            log.exception("cannot look up who holds role %s", role)
            who = ()
        now = self._clock()
        note = NotificationSent(role, zone_id, who, subject[:200], ref, now)
        write(
            self._recorder,
            NewRecord(
                RecordKind.NOTIFICATION,
                now,
                zone_id=zone_id,
                actor=actor,
                detail={
                    "role": role,
                    "recipients": list(who),
                    "subject": note.subject,
                    "ref": ref,
                },
            ),
        )
        self._bus.publish(note)
        return note
