"""JSON payloads Sekisho publishes, and the filter that keeps secrets out of them.

Records hold only masked credentials and never a PIN; still, every payload goes through
:func:`redact`: the ``credential`` field is dropped, detail keys that name a secret are dropped,
and anything shaped like a whole card key (``H10301:12:3456``) is blanked.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from json.encoder import encode_basestring
from typing import Protocol

from gateway.core_api import DoorStatus, ReaderStatus
from gateway.domain import DoorMode, DoorState
from gateway.records import NewRecord

# Detail keys whose name says they may hold a secret or a whole credential number.
_SECRET_KEY = re.compile(
    r"pin|pass(word|wd)?|secret|token|credential|card|scbk|salt|commitment|number", re.I
)
# A whole card key as CardId.key writes it: FORMAT:FACILITY:NUMBER.
_CARD_KEY = re.compile(r"\b(?:H10301|C1000|H10304|EM4100):\d+:\d+\b", re.I)
REDACTED = "[redacted]"

# Record kinds published as events (prefixes); operator actions, logins, audit and incident
# records stay inside (they can name accounts and hold investigation notes), alarm records are
# published through the alarm topic, and a duress PIN's silent alarm is never broadcast.
EVENT_PREFIXES = (
    "access.",
    "door.",
    "reader.",
    "module.",
    "sensor.",
    "zone.",
    "escort.",
    "media.",
    "camera.",
    "mqtt.",
    "system",
)
NEVER_PUBLISHED = frozenset({"access.duress"})


def publishes(kind: str) -> bool:
    """True when records of ``kind`` go out as events."""
    return kind not in NEVER_PUBLISHED and kind.startswith(EVENT_PREFIXES)


def plain(value: object) -> object:  # noqa: PLR0911 -- one return per JSON type
    """A value as JSON-ready data: datetimes in ISO 8601, enums by value, containers deep."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most values: no ABC checks
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if kind is dict or isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}  # type: ignore[attr-defined]
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def redact(value: object) -> object:
    """Drop secret-named keys and blank whole card keys, at any depth."""
    if isinstance(value, Mapping):
        return {str(k): redact(v) for k, v in value.items() if not _secret_name(str(k))}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _text(value)
    return value


def clean(value: object) -> object:  # noqa: PLR0911 -- one return per JSON type
    """``redact(plain(value))`` in one pass, without the intermediate copy.

    The shapes record details have (dicts of text, numbers and flags) take the first branches;
    every other value is handled exactly as :func:`plain` then :func:`redact` would.
    """
    kind = type(value)
    if kind is str:
        return _text(value)  # type: ignore[arg-type]
    if kind is int or kind is bool or value is None:
        return value
    if kind is dict or isinstance(value, Mapping):
        out: dict[str, object] = {}
        for k, v in value.items():  # type: ignore[attr-defined]
            name = k if type(k) is str else str(k)
            if not _secret_name(name):
                out[name] = clean(v)
        return out
    if kind is list or isinstance(value, tuple | set | frozenset | list):
        return [clean(v) for v in value]  # type: ignore[attr-defined]
    if isinstance(value, datetime):
        return _text(value.isoformat())
    if isinstance(value, Enum):
        return redact(value.value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: clean(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not _secret_name(f.name)
        }
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, int | float | bool):
        return value
    return _text(str(value))


def _text(value: str) -> str:
    """``value`` with every whole card key blanked (a card key has colons: most text has none)."""
    return _CARD_KEY.sub(REDACTED, value) if ":" in value else value


_SECRET_NAMES: dict[str, bool] = {}  # key name -> names a secret; keys repeat from record to record
_SECRET_NAMES_MAX = 4096  # a bound: detail keys are chosen by code, but never let it grow


def _secret_name(name: str) -> bool:
    """True when a detail key's name says it may hold a secret (remembered per name)."""
    hit = _SECRET_NAMES.get(name)
    if hit is None:
        hit = _SECRET_KEY.search(name) is not None
        if len(_SECRET_NAMES) < _SECRET_NAMES_MAX:
            _SECRET_NAMES[name] = hit
    return hit


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(data: object) -> bytes:
    """Compact UTF-8 JSON."""
    return _ENCODER.encode(data).encode()


class RecordFields(Protocol):
    """What an event is made of: a record as written (``NewRecord``) or as read back
    (``gateway.storage.queries.StoredRecord``)."""

    @property
    def kind(self) -> object: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def door_id(self) -> str | None: ...
    @property
    def zone_id(self) -> str | None: ...
    @property
    def reader_id(self) -> str | None: ...
    @property
    def person_id(self) -> str | None: ...
    @property
    def person_kind(self) -> str | None: ...
    @property
    def direction(self) -> str | None: ...
    @property
    def outcome(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def actor(self) -> str | None: ...
    @property
    def detail(self) -> dict[str, object]: ...


# The record fields an event carries, in this order (all but the masked credential).
EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(NewRecord) if f.name != "credential")
assert EVENT_FIELDS[-1] == "detail"  # record_event writes the redacted detail last
_PLAIN_EVENT_FIELDS = EVENT_FIELDS[:-1]


def record_event(site_id: str, seq: int, rec: RecordFields) -> bytes:
    """A committed record as an event, with its original time (``ts``) and no credential.

    The same bytes whether ``rec`` is the record as written or as read back from the log (whose
    ``ts`` is UTC, as written). Equal to ``dumps`` of the dict of ``EVENT_FIELDS`` (``plain``)
    with ``site_id`` and ``seq`` first and the detail redacted; the fields are joined as text
    because one event per record is the hot path (a third of the time of json.dumps).
    """
    fields = "".join(
        f'"{name}":{_json(plain(getattr(rec, name)))},' for name in _PLAIN_EVENT_FIELDS
    )
    detail = rec.detail
    body = _json(clean(detail)) if detail else "{}"
    return f'{{"site_id":{_json(site_id)},"seq":{int(seq)},{fields}"detail":{body}}}'.encode()


def _json(value: object) -> str:
    """One JSON value, compact (text and null without the encoder's set-up)."""
    if value is None:
        return "null"
    if type(value) is str:
        return encode_basestring(value)
    return _ENCODER.encode(value)


def door_state(status: DoorStatus) -> bytes:
    """A door's live status."""
    return dumps(plain(status))


def reader_state(status: ReaderStatus) -> bytes:
    """A reader's live status."""
    return dumps(plain(status))


_ALARM_STATES = (DoorState.FORCED, DoorState.HELD)


def zone_state(
    zone_id: str, name: str, kind: str, door_ids: list[str], doors: Iterable[DoorStatus]
) -> bytes:
    """A zone's state from its doors (``door_ids``, site-file order) and their live status:
    how many are open, in alarm, in fault (a door not running yet counts as in fault), and
    whether the zone is locked down."""
    live = {d.door_id: d for d in doors if d.door_id in door_ids}
    mine = list(live.values())
    return dumps(
        {
            "zone_id": zone_id,
            "name": name,
            "kind": kind,
            "doors": door_ids,
            "doors_open": sum(1 for d in mine if d.contact_open),
            "doors_in_alarm": sum(1 for d in mine if d.state in _ALARM_STATES),
            "doors_in_fault": len(door_ids)
            - len(mine)
            + sum(1 for d in mine if d.state is DoorState.FAULT),
            "locked_down": bool(mine) and all(d.mode is DoorMode.LOCKED_DOWN for d in mine),
        }
    )


def sensor_state(
    *,
    sensor_id: str,
    name: str,
    kind: str,
    zone_id: str | None,
    state: str,
    value: float | None,
    unit: str,
    ts: datetime,
) -> bytes:
    """An environment sensor's state and value."""
    return dumps(
        plain(
            {
                "sensor_id": sensor_id,
                "name": name,
                "kind": kind,
                "zone_id": zone_id,
                "state": state,
                "value": value,
                "unit": unit,
                "ts": ts,
            }
        )
    )


def alarm_event(alarm: object, ts: datetime) -> bytes:
    """One alarm transition (an ``AlarmView``) with the time it was seen."""
    data = plain(alarm)
    assert isinstance(data, dict)
    return dumps(redact({**data, "ts": plain(ts)}))


def alarms_active(alarms: Iterable[object]) -> bytes:
    """The open alarms, most urgent first, with counts."""
    rows = [r for r in (plain(a) for a in alarms) if isinstance(r, dict)]
    rows.sort(key=lambda r: (r.get("priority", 99), str(r.get("raised_at", ""))))
    keep = ("alarm_id", "type", "priority", "state", "source", "zone_id", "door_id", "raised_at")
    return dumps(
        redact(
            {
                "count": len(rows),
                "unacknowledged": sum(1 for r in rows if r.get("acknowledged_by") is None),
                "highest_priority": rows[0].get("priority") if rows else None,
                "alarms": [{k: r.get(k) for k in keep} for r in rows[:50]],
            }
        )
    )
