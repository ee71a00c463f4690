"""Outsiders escorted by staff, or watched by surveillance (4-8-7(1)): the decision's part."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.config.site import ALWAYS
from gateway.decision import (
    AccessPoint,
    AuthorizationEntry,
    Companion,
    CredentialEntry,
    Decision,
    ZoneRules,
    decide,
)
from gateway.domain import AuthMode, CredentialStatus, Direction, PersonKind
from gateway.schedule import CompiledSchedule, SiteCalendar

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
CAL = SiteCalendar.of("Asia/Tokyo", [])


def entry(kind: PersonKind) -> CredentialEntry:
    """A valid credential of a person of ``kind`` authorized for the server room."""
    auth = AuthorizationEntry(
        "a1", "srv", CompiledSchedule.compile(ALWAYS), None, None, purpose="maintenance"
    )
    return CredentialEntry(
        "c1", "H10301:1:1", "H10301:…001", "p1", "P", kind, True, CredentialStatus.ENABLED,
        None, None, None, (auth,),
    )  # fmt: skip


def point(*, monitored: bool, watching: bool, two_person: bool = False) -> AccessPoint:
    """The server room's door, going in."""
    rules = ZoneRules("srv", camera_monitored=monitored, two_person=two_person)
    return AccessPoint("d1", rules, Direction.IN, AuthMode.CARD, camera_watching=watching)


def decided(p: AccessPoint, kind: PersonKind = PersonKind.VISITOR) -> Decision:
    """The decision for one badge."""
    result = decide(p, entry(kind), now=NOW, calendar=CAL)
    assert isinstance(result, Decision)
    return result


def test_a_watched_zone_lets_a_visitor_in_without_an_escort() -> None:
    d = decided(point(monitored=True, watching=True))
    assert d.granted and d.companion is None and d.camera_cover


@pytest.mark.parametrize(("monitored", "watching"), [(True, False), (False, True)])
def test_without_a_good_picture_or_the_option_the_escort_is_needed(
    monitored: bool, watching: bool
) -> None:
    d = decided(point(monitored=monitored, watching=watching))
    assert d.companion is Companion.ESCORT and not d.camera_cover


def test_staff_are_never_camera_covered() -> None:
    d = decided(point(monitored=True, watching=True), PersonKind.STAFF)
    assert d.companion is None and not d.camera_cover


def test_two_person_still_applies_to_a_watched_outsider() -> None:
    d = decided(point(monitored=True, watching=True, two_person=True))
    assert d.camera_cover and d.companion is Companion.SECOND_PERSON


def test_leaving_is_not_camera_covered() -> None:
    p = point(monitored=True, watching=True)
    out = AccessPoint("d1", p.zone, Direction.OUT, AuthMode.CARD, camera_watching=True)
    d = decided(out)
    assert d.granted and not d.camera_cover
