"""The dashboard's two languages say the same things, and name every state, kind and reason."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest

from api.dashboard import STATIC_DIR
from api.roles import Role
from gateway.alarms.catalogue import CATALOGUE
from gateway.config.site import ZoneKind
from gateway.domain import AuthMode, DoorMode, DoorState, Outcome, PersonKind, Reason
from gateway.events import CameraCondition
from gateway.incidents.model import StepKind
from gateway.media.model import Classification, MediaKind, Refusal
from gateway.records import RecordKind
from gateway.visits.model import IdDocument, VisitStatus

MESSAGES = (STATIC_DIR / "js" / "messages.js").read_text(encoding="utf-8")
KEY = re.compile(r'^\s+"?([\w.]+)"?:\s', re.MULTILINE)


def keys(lang: str) -> set[str]:
    """The message keys of one language's table in messages.js."""
    start = MESSAGES.index(f"const {lang} = {{")
    end = MESSAGES.index("\n};", start)
    return set(KEY.findall(MESSAGES[start:end]))


def test_japanese_and_english_have_the_same_messages() -> None:
    en, ja = keys("en"), keys("ja")
    assert len(en) > 150
    assert en - ja == set(), "English only"
    assert ja - en == set(), "Japanese only"


@pytest.mark.parametrize(
    ("prefix", "enum"),
    [
        ("state_", DoorState),
        ("mode_", DoorMode),
        ("auth_", AuthMode),
        ("outcome_", Outcome),
        ("reason_", Reason),
        ("kind_", RecordKind),
        ("person_", PersonKind),
        ("role_", Role),
        ("zone_kind_", ZoneKind),
        ("step_kind_", StepKind),
        ("visit_status_", VisitStatus),
        ("id_document_", IdDocument),
        ("media_kind_", MediaKind),
        ("classification_", Classification),
        ("refusal_", Refusal),
        ("camera_condition_", CameraCondition),
    ],
)
def test_every_value_the_api_sends_has_a_label(prefix: str, enum: type[StrEnum]) -> None:
    # Unlabelled values still show (raw), but the desk should read words, in both languages.
    missing = [m.value for m in enum if f"{prefix}{m.value}" not in keys("en")]
    assert missing == []


def test_every_alarm_type_and_every_desk_mode_has_words() -> None:
    # The console names each catalogue type (4-8-7(4)(5)); the mode menu explains each mode.
    en = keys("en")
    assert [t for t in CATALOGUE if f"alarm_type_{t}" not in en] == []
    desk_modes = [m.value for m in DoorMode if m is not DoorMode.LOCKED_DOWN]
    assert [m for m in desk_modes if f"mode_help_{m}" not in en] == []
