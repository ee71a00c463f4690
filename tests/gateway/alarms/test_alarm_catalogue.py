"""The alarm catalogue table and the site file's ``alarms:`` section."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.alarms.catalogue import CATALOGUE, Source, on, source_of
from gateway.clock import utcnow
from gateway.config.load import ConfigError, parse_site
from gateway.records import NewRecord
from gateway.records import RecordKind as K
from tests.gateway.alarms.alarm_support import SITE


def test_every_entry_is_complete() -> None:
    for spec in CATALOGUE.values():
        assert 1 <= spec.priority <= 9, spec.type
        assert spec.ja.strip() and spec.en.strip(), spec.type
        assert spec.raised_by, spec.type
        assert spec.clause.startswith("4-8-"), spec.type
        assert spec.escalation_s is None or spec.escalation_s > 0
        # nothing an alarm transition writes may raise or clear an alarm (no feedback loop)
        kinds = {t.kind for t in (*spec.raised_by, *spec.cleared_by)}
        assert not any(k.value.startswith("alarm.") for k in kinds), spec.type


def test_the_issue_lists_are_all_there() -> None:
    expected = {
        "door.forced",
        "door.held",
        "door.held_prealarm",
        "door.fault",
        "reader.tamper",
        "reader.offline",
        "module.offline",
        "env.smoke",
        "env.water_leak",
        "env.temperature_high",
        "env.temperature_low",
        "env.humidity_high",
        "env.humidity_low",
        "env.ups_on_battery",
        "env.ups_low_battery",
        "env.intrusion",
        "env.enclosure_tamper",
        "env.wiring_fault",
        "audit.bulk_export",
        "access.anti_passback",
        "access.tailgating",
        "access.duress",
        "escort.astray",
        "zone.lone_occupant",
        "media.overdue",
        "camera.fault",
        "incident.step_overdue",
    }
    assert expected <= set(CATALOGUE)
    # the records other issues are to write, named exactly
    assert CATALOGUE["audit.bulk_export"].raised_by == (on(K.AUDIT_BULK_EXPORT_ALERT),)
    assert K.AUDIT_BULK_EXPORT_ALERT.value == "audit.bulk_export_alert"
    duress = CATALOGUE["access.duress"]
    assert duress.silent and duress.priority == 1 and duress.momentary
    assert CATALOGUE["door.held_prealarm"].priority > CATALOGUE["door.held"].priority
    assert CATALOGUE["door.held_prealarm"].escalation_s is None  # a warning, not escalated


def test_sources_name_the_thing_or_fall_back_to_site() -> None:
    rec = NewRecord(K.INCIDENT_STEP_OVERDUE, utcnow(), detail={"incident": "i1", "step": "final"})
    assert source_of(Source.INCIDENT_STEP, rec) == "incident:i1/final"
    assert source_of(Source.DOOR, NewRecord(K.DOOR_FORCED, utcnow(), door_id="d")) == "door:d"
    assert source_of(Source.MEDIA, NewRecord(K.MEDIA_OVERDUE, utcnow())) == "site"
    tape = NewRecord(K.MEDIA_OVERDUE, utcnow(), detail={"item_id": "tape-7"})
    assert source_of(Source.MEDIA, tape) == "media:tape-7"
    assert source_of(Source.INCIDENT_STEP, NewRecord(K.INCIDENT_STEP_OVERDUE, utcnow())) == "site"


def test_a_trigger_narrowed_by_detail_matches_only_those_values() -> None:
    t = on(K.SENSOR_STATE, sensor_kind="smoke", state=["alarm"])
    smoke = {"sensor_kind": "smoke", "state": "alarm"}
    assert t.matches(NewRecord(K.SENSOR_STATE, utcnow(), detail=smoke))
    assert not t.matches(NewRecord(K.SENSOR_STATE, utcnow(), detail={**smoke, "state": "open"}))
    assert not t.matches(NewRecord(K.SENSOR_STATE, utcnow()))
    assert not t.matches(NewRecord(K.DOOR_FORCED, utcnow(), detail=smoke))


def _site(**sections: object) -> str:
    """The test site file with some sections set, as YAML."""
    return yaml.safe_dump({**SITE, **sections}, allow_unicode=True)


def test_the_site_file_refuses_unknown_alarm_types_and_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"unknown alarm type\(s\) door\.frocd"):
        parse_site(_site(alarms={"types": {"door.frocd": {"priority": 1}}}), Path("s.yaml"))
    with pytest.raises(ConfigError, match="priority"):
        parse_site(_site(alarms={"types": {"door.forced": {"priority": 0}}}), Path("s.yaml"))
    with pytest.raises(ConfigError, match="en"):
        parse_site(
            _site(alarms={"types": {"door.forced": {"instructions": {"ja": "x"}}}}),
            Path("s.yaml"),
        )
    ok = parse_site(_site(alarms={"types": {"env.smoke": {"escalation_s": 30}}}), Path("s.yaml"))
    assert ok.alarms.escalation_s(CATALOGUE["env.smoke"]) == 30
    assert ok.alarms.escalation_s(CATALOGUE["door.held_prealarm"]) is None
