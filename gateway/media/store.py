"""What the media services share: their context, finding items by tag, writing the ledger.

The ledger (``media_movement``, 4-8-5(9)) gets one line per movement, written in the same
transaction as the item's new state, so the registry's "where is it now" and the ledger never
disagree. Each movement is also a ``media.moved`` record in the log, staged in that same
transaction and written after its commit through the gateway's outbox (``gateway.intents``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, or_
from sqlmodel import Session, col, select

from gateway.config.site import SiteConfig
from gateway.custody import Invalid, NotFound, aware
from gateway.domain import CardId, Direction
from gateway.intents import IntentOutbox
from gateway.media.config import ZoneMediaPolicy
from gateway.media.model import ItemFacts, ItemState, Movement, RequestFacts, RequestStatus
from gateway.recorder import Recorder
from gateway.storage.models import MediaItemRow, MediaMovementRow, MediaRequestRow


@dataclass
class MediaContext:
    """The site, store, log, outbox and clock the media services work with, and their lock."""

    site: SiteConfig
    engine: Engine
    recorder: Recorder
    intents: IntentOutbox
    clock: Callable[[], datetime]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def site_id(self) -> str:
        """The site's id."""
        return self.site.site.id

    def policy(self, zone_id: str, field_name: str = "zone_id") -> ZoneMediaPolicy:
        """The media rules of a zone; Invalid for a zone the site does not have."""
        try:
            return self.site.zone(zone_id).media
        except KeyError:
            raise Invalid(field_name, f"unknown zone {zone_id!r}") from None


def normal_tag(text: str) -> str:
    """A tag as typed or scanned, trimmed; card keys in their canonical form."""
    text = text.strip()
    try:
        return CardId.parse(text).key
    except ValueError:
        return text


def item_row(s: Session, site_id: str, item_id: str) -> MediaItemRow:
    """The site's item with this id; NotFound otherwise."""
    row = s.get(MediaItemRow, item_id)
    if row is None or row.site_id != site_id:
        raise NotFound("no such media item")
    return row


def find_item(s: Session, site_id: str, tag: str) -> MediaItemRow | None:
    """The item whose asset tag, serial or reader tag is ``tag`` (asset tag first)."""
    t = normal_tag(tag)
    i = MediaItemRow
    rows = s.exec(
        select(i).where(
            i.site_id == site_id,
            or_(col(i.tag) == t, col(i.serial) == t, col(i.rfid) == t),
        )
    ).all()
    for key in ("tag", "rfid", "serial"):
        for r in rows:
            if getattr(r, key) == t:
                return r
    return None


def facts(row: MediaItemRow) -> ItemFacts:
    """The rules' view of an item row."""
    return ItemFacts(
        item_id=row.id,
        tag=row.tag,
        state=ItemState(row.state),
        home_zone=row.home_zone,
        zone_id=row.zone_id,
        encrypted=row.encrypted,
        holder_id=row.holder_id,
        due_back=aware(row.due_back),
    )


def request_facts(row: MediaRequestRow) -> RequestFacts:
    """The rules' view of a request row."""
    valid_from, valid_to = aware(row.valid_from), aware(row.valid_to)
    assert valid_from is not None
    assert valid_to is not None
    return RequestFacts(
        request_id=row.id,
        item_id=row.item_id,
        direction=Direction(row.direction),
        zone_id=row.zone_id,
        person_id=row.person_id,
        status=RequestStatus(row.status),
        valid_from=valid_from,
        valid_to=valid_to,
    )


def location_of(row: MediaItemRow, destination: str | None = None) -> str:
    """Where the ledger says an item is, in words."""
    state = ItemState(row.state)
    if state is ItemState.HOME:
        return f"{row.home_zone}: {row.home_location or 'home'}"
    if state is ItemState.OUT:
        return f"out: {destination or 'outside'}"
    if state is ItemState.INSIDE:
        return f"{row.zone_id} (carried in)"
    if state is ItemState.DISPOSED:
        return "disposed"
    return "outside"


def add_movement(
    s: Session,
    item: MediaItemRow,
    movement: Movement,
    *,
    state_to: ItemState,
    at: datetime,
    actor: str,
    state_from: ItemState | None = None,
    location_from: str | None = None,
    location_to: str | None = None,
    zone_id: str | None = None,
    person_id: str | None = None,
    request_id: str | None = None,
    inspection_id: str | None = None,
    second_actor: str | None = None,
    note: str | None = None,
) -> MediaMovementRow:
    """Add one ledger line for ``item`` (in the caller's transaction), numbered in order.

    The media services hold one lock while they write, so the next number is theirs.
    """
    m = MediaMovementRow
    last = s.exec(select(func.max(m.line)).where(m.site_id == item.site_id)).one()
    line = MediaMovementRow(
        site_id=item.site_id,
        line=(last or 0) + 1,
        item_id=item.id,
        at=at,
        movement=movement.value,
        state_from=state_from.value if state_from else None,
        state_to=state_to.value,
        location_from=location_from,
        location_to=location_to,
        zone_id=zone_id,
        person_id=person_id,
        request_id=request_id,
        inspection_id=inspection_id,
        actor=actor,
        second_actor=second_actor,
        note=note,
    )
    s.add(line)
    s.flush()  # a second line in the same transaction sees this one
    return line


def movement_detail(line: MediaMovementRow, tag: str) -> dict[str, object]:
    """What a ``media.moved`` record says about a ledger line."""
    return {
        "movement_id": line.id,
        "line": line.line,
        "item_id": line.item_id,
        "tag": tag,
        "movement": line.movement,
        "state_from": line.state_from,
        "state_to": line.state_to,
        "location_from": line.location_from,
        "location_to": line.location_to,
        "request_id": line.request_id,
        "inspection_id": line.inspection_id,
        "second_actor": line.second_actor,
    }
