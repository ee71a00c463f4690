"""``GET /api/v1/stream``: live updates as server-sent events for the dashboard.

EventSource cannot send headers, so the token may come as ``?access_token=``. Every role sees
door and reader updates; only roles with events:read also receive new records (4-8-6(6)).
On connect the stream first sends every door's and reader's current status, then ``ready``;
it ends with ``expired`` when the token does, so an idle dashboard cannot listen on for ever
(4-8-6(15)): the client reconnects with a refreshed token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.deps import CoreDep, SettingsDep, TokenDep, require
from api.errors import unauthorized
from api.roles import Permission, is_allowed
from api.schemas import DoorOut, ReaderOut, error_responses
from api.security import TokenError, decode_token
from gateway.clock import utcnow
from gateway.core_api import LiveUpdate
from gateway.storage.models import Account

router = APIRouter(tags=["stream"])


def token_expiry(
    token: TokenDep,
    settings: SettingsDep,
    access_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> datetime:
    """When the caller's token expires (it was already checked by the permission)."""
    try:
        claims = decode_token(
            token or access_token or "", key=settings.secret_key.get_secret_value()
        )
    except TokenError:
        raise unauthorized("Invalid or expired token") from None
    return claims.expires_at


async def _next(updates: AsyncIterator[LiveUpdate]) -> LiveUpdate | None:
    """The next update, or None when the feed has ended."""
    try:
        return await updates.__anext__()
    except StopAsyncIteration:
        return None


@router.get("/stream", response_class=EventSourceResponse, responses=error_responses(401, 403))
async def stream(
    caller: Annotated[Account, require(Permission.DOORS_READ, token_in_query=True)],
    expires_at: Annotated[datetime, Depends(token_expiry)],
    core: CoreDep,
) -> AsyncIterator[ServerSentEvent]:
    """Events ``door``, ``reader``, ``sensor``, (with events:read) ``record``, (with
    alarms:read) ``alarm`` and ``notification``, (with zones:occupancy) ``occupancy``; JSON."""
    hidden = {  # 4-8-6(6): the admin sees no records, alarms or notifications
        topic
        for topic, permission in (
            ("record", Permission.EVENTS_READ),
            ("alarm", Permission.ALARMS_READ),
            ("notification", Permission.ALARMS_READ),
            ("occupancy", Permission.ZONES_OCCUPANCY),
        )
        if not is_allowed(caller.role, permission)
    }
    running = core.core  # this handler runs on the core's loop: no bridge needed
    updates = running.live()
    pending = asyncio.ensure_future(_next(updates))
    try:
        # One turn of the loop lets the subscription register before the snapshot is taken,
        # so no change falls between the two.
        await asyncio.sleep(0)
        doors, readers = running.doors(), running.readers()
        for door in doors:
            yield ServerSentEvent(event="door", data=DoorOut.of(door).model_dump(mode="json"))
        for reader in readers:
            yield ServerSentEvent(event="reader", data=ReaderOut.of(reader).model_dump())
        yield ServerSentEvent(event="ready", data={"doors": len(doors), "readers": len(readers)})
        while True:
            remaining = (expires_at - utcnow()).total_seconds()
            done, _ = await asyncio.wait({pending}, timeout=max(remaining, 0))
            if not done:
                yield ServerSentEvent(event="expired", data={})
                return
            update = pending.result()
            if update is None:
                return
            pending = asyncio.ensure_future(_next(updates))
            if update.topic in hidden:
                continue
            yield ServerSentEvent(event=update.topic, data=update.data)
    finally:
        if not pending.done():
            pending.cancel()  # the feed's generator runs inside it: cancelling ends both
        else:
            aclose = getattr(updates, "aclose", None)
            if aclose is not None:
                await aclose()  # suspended at a yield: close it to unsubscribe
