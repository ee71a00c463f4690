"""Contractors (4-8-9) on a real gateway, record log and store (SQLite and PostgreSQL).

Company, contract end, confidentiality clause (yes/no and date), on-site inspections at least
yearly (4-8-9(3)); access lapses with the contract (the decision's ``ContractExpired``, read
from ``Person.contract_end`` at the instant the clock says); findings recorded once each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from gateway.contractors import ContractTerms, FindingKind
from gateway.custody import Invalid, NotAllowed
from gateway.decision import AccessPoint, Decision, ZoneRules, decide
from gateway.domain import AuthMode, CardId, Direction, PersonKind, Reason
from gateway.records import RecordKind
from gateway.schedule import SiteCalendar
from gateway.storage.models import Credential
from tests.gateway.media.custody_rig import Rig, actor, sqlite_engine, start_rig, stop_rig

CARD = "H10304:4000:123456"
CAL = SiteCalendar.of("Asia/Tokyo", [])


@pytest.fixture
async def rig(engine: Engine) -> AsyncIterator[Rig]:
    """A running gateway with the custody services."""
    r = await start_rig(engine)
    try:
        yield r
    finally:
        await stop_rig(r)


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[Rig]:
    """The same on a SQLite file only, for rules whose storage both backends share."""
    engine = sqlite_engine(tmp_path)
    r = await start_rig(engine, alarms=True)
    try:
        yield r
    finally:
        await stop_rig(r)
        engine.dispose()


async def contractor(rig: Rig) -> str:
    """A contractor with a card and a standing authorization to the server room."""
    pid = rig.add_person("Tanaka Kenji", PersonKind.CONTRACTOR, zones=("srv",))
    card = CardId.parse(CARD)
    with Session(rig.engine) as s:
        s.add(
            Credential(
                site_id="hq",
                person_id=pid,
                format=card.format,
                facility=card.facility,
                number=card.number,
                card_key=card.key,
            )
        )
        s.commit()
    await rig.gateway.reload_person(pid)
    return pid


def at_the_door(rig: Rig) -> Decision:
    """The contractor's badge at the server-room door (no escort rule here) now."""
    point = AccessPoint(
        "d-srv", ZoneRules("srv", escort_required=False), Direction.IN, AuthMode.CARD
    )
    result = decide(point, rig.gateway.index.lookup(CARD), now=rig.clock(), calendar=CAL)
    assert isinstance(result, Decision)
    return result


def terms(rig: Rig, **kw: object) -> ContractTerms:
    """A contract ending on Wednesday (the rig's clock starts on a Monday)."""
    values: dict[str, object] = {
        "company": "Kanto Datacenter Services",
        "contract_end": rig.clock() + timedelta(days=2, hours=3),
        "confidentiality_on_file": True,
        "confidentiality_date": date(2026, 4, 1),
        "contract_ref": "KDS-2026-07",
        **kw,
    }
    return ContractTerms(**values)  # type: ignore[arg-type]


async def test_access_lapses_with_a_contract_ending_mid_week(rig: Rig) -> None:
    pid = await contractor(rig)
    assert at_the_door(rig).reason is Reason.CONTRACT_EXPIRED  # no contract on file
    mina = actor("mina", "manager", None, "srv")
    view = await rig.custody.contractors.set_terms(mina, pid, terms(rig))
    assert (view.company, view.confidentiality_on_file, view.contract_ref) == (
        "Kanto Datacenter Services",
        True,
        "KDS-2026-07",
    )
    assert at_the_door(rig).granted  # Monday
    rig.clock.advance(days=2)
    assert at_the_door(rig).granted  # Wednesday morning, before the end
    rig.clock.advance(hours=3)
    assert at_the_door(rig).reason is Reason.CONTRACT_EXPIRED  # the end, to the second
    found = await rig.custody.contractors.check()
    assert [f.kind for f in found] == [FindingKind.CONTRACT_ENDED]
    assert await rig.custody.contractors.check() == []  # once
    updated = rig.records(RecordKind.CONTRACTOR_UPDATED)[0]
    assert updated.actor == "mina" and updated.person_id == pid
    assert updated.detail["changes"]["company"] == {  # type: ignore[index]
        "from": None,
        "to": "Kanto Datacenter Services",
    }
    finding = rig.records(RecordKind.CONTRACTOR_FINDING)[0]
    assert finding.detail["finding"] == "contract_ended" and finding.person_kind == "contractor"
    # Extending the contract restores access at once.
    await rig.custody.contractors.set_terms(
        mina, pid, terms(rig, contract_end=rig.clock() + timedelta(days=30))
    )
    assert at_the_door(rig).granted


async def test_on_site_inspection_at_least_yearly(rig: Rig) -> None:
    pid = await contractor(rig)
    mina = actor("mina", "manager", None, "srv")
    long_term = terms(rig, contract_end=rig.clock() + timedelta(days=800))
    view = await rig.custody.contractors.set_terms(mina, pid, long_term)
    assert view.inspection_due == date(2027, 11, 30) and view.findings == ()
    rig.clock.advance(days=366)
    assert [f.kind for f in await rig.custody.contractors.check()] == [
        FindingKind.INSPECTION_OVERDUE
    ]
    assert await rig.custody.contractors.check() == []
    view = await rig.custody.contractors.record_inspection(
        mina, pid, rig.clock().date(), "records room and shredder checked"
    )
    assert view.last_inspection_date == rig.clock().date() and view.findings == ()
    assert rig.records(RecordKind.CONTRACTOR_INSPECTED)[0].detail["note"] == (
        "records room and shredder checked"
    )
    rig.clock.advance(days=366)  # the next year's inspection is a new finding
    again = await rig.custody.contractors.check()
    assert [f.kind for f in again] == [FindingKind.INSPECTION_OVERDUE]
    assert again[0].key != rig.records(RecordKind.CONTRACTOR_FINDING)[0].detail["key"]


async def test_a_missing_confidentiality_clause_is_a_finding(lite: Rig) -> None:
    rig = lite
    pid = await contractor(rig)
    no_clause = terms(rig, confidentiality_on_file=False, confidentiality_date=None)
    await rig.custody.contractors.set_terms(actor("mina", "manager"), pid, no_clause)
    views = await rig.custody.contractors.all()
    assert [(v.person_id, [f.kind for f in v.findings]) for v in views] == [
        (pid, [FindingKind.NO_CONFIDENTIALITY_CLAUSE])
    ]


async def test_refusals(lite: Rig) -> None:
    rig = lite
    pid = await contractor(rig)
    staff = rig.add_person("Staff")
    c = rig.custody.contractors
    with pytest.raises(NotAllowed):
        await c.set_terms(actor("tk", "manager", pid), pid, terms(rig))
    with pytest.raises(Invalid, match="not a contractor"):
        await c.set_terms(actor("mina", "manager"), staff, terms(rig))
    with pytest.raises(Invalid, match="confidentiality_date"):
        await c.set_terms(actor("mina", "manager"), pid, terms(rig, confidentiality_date=None))
    with pytest.raises(Invalid, match="record the contract"):
        await c.record_inspection(actor("mina", "manager"), pid, rig.clock().date())
    await c.set_terms(actor("mina", "manager"), pid, terms(rig))
    with pytest.raises(Invalid, match="ahead of its day"):
        await c.record_inspection(
            actor("mina", "manager"), pid, rig.clock().date() + timedelta(days=2)
        )
    assert len(rig.records(RecordKind.CONTRACTOR_UPDATED)) == 1
