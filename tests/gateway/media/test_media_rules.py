"""The door inspection's judgement and the inventory's reconciliation, pure (4-8-5, 4-8-12(2))."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.domain import Direction
from gateway.media.config import ZoneMediaPolicy
from gateway.media.model import (
    FindingKind,
    InspectionOutcome,
    ItemFacts,
    ItemState,
    Judgement,
    Movement,
    Refusal,
    RequestFacts,
    RequestStatus,
    judge,
    reconcile,
)

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
TAPE = ItemFacts("tape", "T-0001", ItemState.HOME, "vault", "vault", encrypted=True)
LAPTOP = ItemFacts("laptop", "KDS-LT-9", ItemState.AWAY, None, None, encrypted=True)
OUT = RequestFacts(
    "r1",
    "tape",
    Direction.OUT,
    "vault",
    "sato",
    RequestStatus.APPROVED,
    NOW - timedelta(hours=1),
    NOW + timedelta(days=2),
)
PLAIN = ZoneMediaPolicy()
STRICT = ZoneMediaPolicy(encryption_required=True, second_person_inspection=True)


def out(item: ItemFacts | None = TAPE, **kw: Any) -> Judgement:
    """Judge carrying ``item`` out of the vault by sato."""
    args: dict[str, Any] = {
        "direction": Direction.OUT,
        "zone_id": "vault",
        "carrier_id": "sato",
        "requests": [OUT],
        "policy": PLAIN,
        "passed": True,
        "now": NOW,
        **kw,
    }
    return judge(item, **args)


def test_an_approved_carry_out_moves_the_item() -> None:
    j = out()
    assert (j.outcome, j.movement, j.state_to, j.request_id) == (
        InspectionOutcome.COMPLETED,
        Movement.CARRIED_OUT,
        ItemState.OUT,
        "r1",
    )


@pytest.mark.parametrize(
    ("kwargs", "refusal"),
    [
        ({"requests": []}, Refusal.NO_APPROVED_REQUEST),
        ({"requests": [replace(OUT, status=RequestStatus.REQUESTED)]}, Refusal.NO_APPROVED_REQUEST),
        ({"requests": [replace(OUT, valid_to=NOW)]}, Refusal.NO_APPROVED_REQUEST),  # expired
        ({"requests": [replace(OUT, direction=Direction.IN)]}, Refusal.NO_APPROVED_REQUEST),
        ({"carrier_id": "suzuki"}, Refusal.CARRIER_MISMATCH),
        ({"zone_id": "srv"}, Refusal.WRONG_ZONE),
        ({"named_request": "r-of-another-item"}, Refusal.TAG_MISMATCH),
        ({"passed": False}, Refusal.INSPECTION_FAILED),
    ],
)
def test_refusals_of_a_carry_out(kwargs: dict[str, object], refusal: Refusal) -> None:
    j = out(**kwargs)
    assert (j.outcome, j.refusal) == (InspectionOutcome.REFUSED, refusal)
    assert refusal.unapproved is (refusal is not Refusal.INSPECTION_FAILED)


def test_states_the_ledger_does_not_allow() -> None:
    assert out(None).refusal is Refusal.UNKNOWN_ITEM
    gone = replace(TAPE, state=ItemState.DISPOSED)
    assert out(gone).refusal is Refusal.DISPOSED
    already_out = replace(TAPE, state=ItemState.OUT)
    assert out(already_out).refusal is Refusal.WRONG_STATE


def test_encryption_and_the_second_person_where_the_zone_requires_them() -> None:
    plain = replace(TAPE, encrypted=False)
    assert out(plain, policy=STRICT).refusal is Refusal.UNENCRYPTED
    assert out(plain).outcome is InspectionOutcome.COMPLETED
    waiting = out(policy=STRICT)
    assert waiting.outcome is InspectionOutcome.AWAITING_SECOND
    assert waiting.movement is Movement.CARRIED_OUT
    done = out(policy=STRICT, second_person_done=True)
    assert done.outcome is InspectionOutcome.COMPLETED


def test_returning_home_and_an_outside_item_in_and_out() -> None:
    away = replace(TAPE, state=ItemState.OUT, zone_id=None, holder_id="sato")
    back = judge(
        away,
        direction=Direction.IN,
        zone_id="vault",
        carrier_id="anyone",
        requests=[],
        policy=PLAIN,
        passed=True,
        now=NOW,
    )
    assert (back.movement, back.state_to) == (Movement.RETURNED, ItemState.HOME)
    carry_in = RequestFacts(
        "r2",
        "laptop",
        Direction.IN,
        "srv",
        "tanaka",
        RequestStatus.APPROVED,
        NOW,
        NOW + timedelta(hours=8),
    )
    common: dict[str, Any] = {"zone_id": "srv", "policy": PLAIN, "passed": True, "now": NOW}
    j = judge(LAPTOP, direction=Direction.IN, carrier_id="tanaka", requests=[carry_in], **common)
    assert (j.movement, j.state_to, j.request_id) == (Movement.CARRIED_IN, ItemState.INSIDE, "r2")
    refused = judge(LAPTOP, direction=Direction.IN, carrier_id="tanaka", requests=[], **common)
    assert refused.refusal is Refusal.NO_APPROVED_REQUEST
    inside = replace(LAPTOP, state=ItemState.INSIDE, zone_id="srv", holder_id="tanaka")
    leaving = judge(inside, direction=Direction.OUT, carrier_id="tanaka", requests=[], **common)
    assert (leaving.movement, leaving.state_to) == (Movement.TAKEN_OUT, ItemState.AWAY)
    other = judge(inside, direction=Direction.OUT, carrier_id="sato", requests=[], **common)
    assert other.refusal is Refusal.CARRIER_MISMATCH


def test_reconcile_finds_missing_unexpected_and_overdue() -> None:
    items = [
        TAPE,
        replace(TAPE, item_id="tape2", tag="T-0002"),
        replace(
            TAPE, item_id="disk", tag="D-7", state=ItemState.OUT, due_back=NOW - timedelta(days=1)
        ),
        replace(
            TAPE, item_id="disk2", tag="D-8", state=ItemState.OUT, due_back=NOW + timedelta(days=1)
        ),
        replace(TAPE, item_id="srv-ssd", tag="S-1", home_zone="srv", zone_id="srv"),
        replace(LAPTOP, state=ItemState.INSIDE, zone_id="vault"),
    ]
    found = reconcile("vault", items, {"tape", "srv-ssd", "laptop"}, ["??-42"], NOW)
    assert sorted((f.kind, f.tag) for f in found) == [
        (FindingKind.MISSING, "T-0002"),
        (FindingKind.OVERDUE, "D-7"),
        (FindingKind.UNEXPECTED, "??-42"),
        (FindingKind.UNEXPECTED, "S-1"),
    ]
    why = {f.tag: f.why for f in found}
    assert "home zone srv" in why["S-1"] and why["??-42"] == "not in the registry"
