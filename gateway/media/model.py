"""Media custody's vocabulary and its pure rules: what an inspection at the door concludes,
and how a vault inventory is reconciled with the ledger.

Clauses: 4-8-5(4) (carrying out only with the manager's leave), 4-8-5(6) (kept in set places;
taken out protected), 4-8-5(7) (checked by more than one person where set), 4-8-5(9) (the
ledger), 4-8-7(1) (media brought in, used and taken out restricted and inspected), 4-8-12(2)
(regular inspections of storage). Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.domain import Direction
from gateway.media.config import ZoneMediaPolicy


class MediaKind(StrEnum):
    """What an item is."""

    USB_MEMORY = "usb_memory"
    HDD = "hdd"
    SSD = "ssd"
    TAPE = "tape"
    OPTICAL = "optical"  # CD, DVD, Blu-ray
    LAPTOP = "laptop"
    PHONE = "phone"
    PAPER = "paper"  # printed documents, forms


class Classification(StrEnum):
    """How sensitive what the item holds is."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    SECRET = "secret"  # noqa: S105 -- a classification level, not a password


class ItemState(StrEnum):
    """Where the ledger says an item is."""

    HOME = "home"  # at its home location (vault shelf, safe) in its home zone
    OUT = "out"  # a home item carried out of its zone under an approved request
    AWAY = "away"  # an outside item (a contractor's laptop) not on site
    INSIDE = "inside"  # an outside item carried into a zone under an approved request
    DISPOSED = "disposed"  # destroyed beyond recovery (4-8-5(8)); never moves again


class RequestStatus(StrEnum):
    """Where a carry-in or carry-out request stands."""

    REQUESTED = "requested"  # waiting for the zone's manager
    APPROVED = "approved"  # may be used at the door within its window
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    USED = "used"  # the item went through the door under it


class InspectionOutcome(StrEnum):
    """What an inspection at the door came to."""

    COMPLETED = "completed"  # the item moved; the ledger has the movement
    AWAITING_SECOND = "awaiting_second"  # the zone wants a second person's confirmation
    REFUSED = "refused"  # the item does not move (see the refusal)


class Refusal(StrEnum):
    """Why an item may not pass the door."""

    UNKNOWN_ITEM = "unknown_item"  # the tag is not in the registry: unregistered media
    NO_APPROVED_REQUEST = "no_approved_request"  # no approved request for it, now, here
    CARRIER_MISMATCH = "carrier_mismatch"  # approved, but for someone else to carry
    TAG_MISMATCH = "tag_mismatch"  # the item seen is not the one the request names
    UNENCRYPTED = "unencrypted"  # the zone requires encryption to carry it out
    WRONG_ZONE = "wrong_zone"  # the item belongs to (or is inside) another zone
    WRONG_STATE = "wrong_state"  # the ledger says it is not where it would pass from
    DISPOSED = "disposed"  # the registry says it was destroyed
    INSPECTION_FAILED = "inspection_failed"  # the inspector found it not as it should be
    SECOND_PERSON_FAILED = "second_person_failed"  # the second person did not confirm

    @property
    def unapproved(self) -> bool:
        """True when it is a movement without approval caught at the door (an alarm)."""
        return self not in (Refusal.INSPECTION_FAILED, Refusal.SECOND_PERSON_FAILED)


class Movement(StrEnum):
    """One kind of line in the ledger."""

    REGISTERED = "registered"  # entered the registry where it is
    CARRIED_OUT = "carried_out"  # a home item left its zone (approved carry-out)
    RETURNED = "returned"  # it came back home
    CARRIED_IN = "carried_in"  # an outside item entered a zone (approved carry-in)
    TAKEN_OUT = "taken_out"  # the outside item left again
    RELOCATED = "relocated"  # its home location changed (another shelf or safe)
    DISPOSED = "disposed"  # destroyed


RESTING = frozenset({Movement.RETURNED, Movement.TAKEN_OUT})  # back where it belongs


class DisposalMethod(StrEnum):
    """How an item was made unrecoverable (4-8-5(8))."""

    SHREDDING = "shredding"  # paper, optical, and crushed drives
    CRUSHING = "crushing"  # physical destruction of drives
    DEGAUSSING = "degaussing"  # magnetic media
    SECURE_ERASE = "secure_erase"  # overwrite or cryptographic erase
    INCINERATION = "incineration"
    OTHER = "other"


class FindingKind(StrEnum):
    """What a vault inventory or a schedule check found (4-8-12(2))."""

    MISSING = "missing"  # the ledger has it home here; not scanned
    UNEXPECTED = "unexpected"  # scanned, but the ledger has it elsewhere, or unregistered
    OVERDUE = "overdue"  # a home item of this zone out past its return date
    INVENTORY_MISSED = "inventory_missed"  # a scheduled inventory was not done in time


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What a rule needs to know about an item."""

    item_id: str
    tag: str
    state: ItemState
    home_zone: str | None
    zone_id: str | None
    encrypted: bool
    holder_id: str | None = None
    due_back: datetime | None = None


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What a rule needs to know about a request."""

    request_id: str
    item_id: str
    direction: Direction
    zone_id: str
    person_id: str
    status: RequestStatus
    valid_from: datetime
    valid_to: datetime

    def usable(self, now: datetime) -> bool:
        """Approved and within its window."""
        return self.status is RequestStatus.APPROVED and self.valid_from <= now < self.valid_to


@dataclass(frozen=True, slots=True)
class Judgement:
    """An inspection's conclusion: the outcome and what it would do."""

    outcome: InspectionOutcome
    refusal: Refusal | None = None
    movement: Movement | None = None
    state_to: ItemState | None = None
    request_id: str | None = None

    @property
    def moves(self) -> bool:
        """True when the item moves now."""
        return self.outcome is InspectionOutcome.COMPLETED


def refuse(why: Refusal, request_id: str | None = None) -> Judgement:
    """A refusal."""
    return Judgement(InspectionOutcome.REFUSED, why, request_id=request_id)


@dataclass(frozen=True, slots=True)
class _Ask:
    """One item at one door: who carries it which way, and the requests that may cover it."""

    item: ItemFacts
    zone_id: str
    carrier_id: str
    requests: Sequence[RequestFacts]
    now: datetime
    named: str | None


def judge(  # noqa: PLR0911 -- one early return per refusal reads as the rule list
    item: ItemFacts | None,
    *,
    direction: Direction,
    zone_id: str,
    carrier_id: str,
    requests: Sequence[RequestFacts],
    policy: ZoneMediaPolicy,
    passed: bool,
    now: datetime,
    named_request: str | None = None,
    second_person_done: bool = False,
) -> Judgement:
    """What an inspection at a door of ``zone_id`` concludes about ``item`` passing ``direction``.

    ``requests`` are the item's requests (and the named one, if the desk named one);
    ``passed`` is the inspector's result; ``second_person_done`` is set when a second
    person has confirmed (4-8-5(7)).
    """
    if item is None:
        return refuse(Refusal.UNKNOWN_ITEM)
    if named_request is not None and all(
        r.request_id != named_request or r.item_id != item.item_id for r in requests
    ):
        return refuse(Refusal.TAG_MISMATCH, named_request)
    if item.state is ItemState.DISPOSED:
        return refuse(Refusal.DISPOSED)
    ask = _Ask(item, zone_id, carrier_id, requests, now, named_request)
    found = _out(ask, policy) if direction is Direction.OUT else _in(ask)
    if found.outcome is InspectionOutcome.REFUSED:
        return found
    if not passed:
        return refuse(Refusal.INSPECTION_FAILED, found.request_id)
    if policy.second_person_inspection and not second_person_done:
        return Judgement(
            InspectionOutcome.AWAITING_SECOND,
            None,
            found.movement,
            found.state_to,
            found.request_id,
        )
    return found


def _request_for(ask: _Ask, direction: Direction) -> RequestFacts | Refusal:
    """The usable request for this passage, or why there is none."""
    usable = [
        r
        for r in ask.requests
        if r.item_id == ask.item.item_id
        and r.direction is direction
        and r.zone_id == ask.zone_id
        and r.usable(ask.now)
        and (ask.named is None or r.request_id == ask.named)
    ]
    mine = [r for r in usable if r.person_id == ask.carrier_id]
    if mine:
        return mine[0]
    return Refusal.CARRIER_MISMATCH if usable else Refusal.NO_APPROVED_REQUEST


def _out(ask: _Ask, policy: ZoneMediaPolicy) -> Judgement:
    """Carrying an item out of a zone."""
    item = ask.item
    if item.state is ItemState.INSIDE:
        return _out_again(ask)
    if item.state is not ItemState.HOME:
        return refuse(Refusal.WRONG_STATE)
    if item.home_zone != ask.zone_id:
        return refuse(Refusal.WRONG_ZONE)
    found = _request_for(ask, Direction.OUT)
    if isinstance(found, Refusal):
        return refuse(found, ask.named)
    if policy.encryption_required and not item.encrypted:
        return refuse(Refusal.UNENCRYPTED, found.request_id)
    return Judgement(
        InspectionOutcome.COMPLETED,
        None,
        Movement.CARRIED_OUT,
        ItemState.OUT,
        found.request_id,
    )


def _out_again(ask: _Ask) -> Judgement:
    """An outside item leaves as it came: under its carry-in, with the one who brought it."""
    if ask.item.zone_id != ask.zone_id:
        return refuse(Refusal.WRONG_ZONE)
    if ask.item.holder_id is not None and ask.item.holder_id != ask.carrier_id:
        return refuse(Refusal.CARRIER_MISMATCH)
    return Judgement(InspectionOutcome.COMPLETED, None, Movement.TAKEN_OUT, ItemState.AWAY)


def _in(ask: _Ask) -> Judgement:
    """Carrying an item into a zone."""
    item = ask.item
    if item.state is ItemState.OUT:
        if item.home_zone != ask.zone_id:
            return refuse(Refusal.WRONG_ZONE)
        return Judgement(InspectionOutcome.COMPLETED, None, Movement.RETURNED, ItemState.HOME)
    if item.state is not ItemState.AWAY:
        return refuse(Refusal.WRONG_STATE)
    found = _request_for(ask, Direction.IN)
    if isinstance(found, Refusal):
        return refuse(found, ask.named)
    return Judgement(
        InspectionOutcome.COMPLETED,
        None,
        Movement.CARRIED_IN,
        ItemState.INSIDE,
        found.request_id,
    )


@dataclass(frozen=True, slots=True)
class InventoryFinding:
    """One finding of a vault inventory."""

    kind: FindingKind
    item_id: str | None
    tag: str
    why: str


def reconcile(
    zone_id: str,
    items: Iterable[ItemFacts],
    scanned: set[str],
    unknown_tags: Iterable[str],
    now: datetime,
) -> list[InventoryFinding]:
    """Compare what was scanned in ``zone_id`` with what the ledger says should be there.

    ``items`` are the registry's items (at least those of this zone and those scanned);
    ``scanned`` holds the ids of the items scanned; ``unknown_tags`` the tags matching none.
    """
    out: list[InventoryFinding] = []
    for it in items:
        here = (it.state is ItemState.HOME and it.home_zone == zone_id) or (
            it.state is ItemState.INSIDE and it.zone_id == zone_id
        )
        if it.item_id in scanned:
            if not here:
                where = f"the ledger has it {it.state.value}"
                if it.home_zone not in (None, zone_id):
                    where += f" (home zone {it.home_zone})"
                out.append(InventoryFinding(FindingKind.UNEXPECTED, it.item_id, it.tag, where))
            continue
        if it.state is ItemState.HOME and it.home_zone == zone_id:
            out.append(
                InventoryFinding(FindingKind.MISSING, it.item_id, it.tag, "home here; not scanned")
            )
        elif (
            it.state is ItemState.OUT
            and it.home_zone == zone_id
            and it.due_back is not None
            and it.due_back <= now
        ):
            out.append(
                InventoryFinding(
                    FindingKind.OVERDUE,
                    it.item_id,
                    it.tag,
                    f"out; due back {it.due_back.isoformat()}",
                )
            )
    out.extend(
        InventoryFinding(FindingKind.UNEXPECTED, None, tag, "not in the registry")
        for tag in sorted(set(unknown_tags))
    )
    return out
