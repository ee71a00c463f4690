"""RFC 8785 canonical JSON and the record entry the Merkle leaves commit to."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit.entry import canonical_entry, detail_text, sqlite_ts_text, ts_text
from gateway.audit.jcs import NotCanonicalizable, canonical, canonical_bytes, number


def test_rfc8785_sample_with_numbers_strings_and_literals() -> None:
    """The example of RFC 8785 section 3.2.2 (numbers, escapes, literals)."""
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    assert canonical(json.loads(source)) == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )


def test_rfc8785_sorting_by_utf16_code_units() -> None:
    """The example of RFC 8785 section 3.2.3: an emoji sorts before U+FB33 (surrogates)."""
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (123.456, "123.456"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_numbers_are_written_as_ecmascript_does(value: float, text: str) -> None:
    """ES6 Number.prototype.toString for IEEE 754 doubles (RFC 8785 3.2.2.3)."""
    assert number(value) == text


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        {"a": 2**53 + 1},
        {1: "x"},
        {"s": "\ud800"},
        object(),
        [[[]]] * 0 + [set()],
    ],
)
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    """NaN, infinities, unsafe integers, non-string keys, lone surrogates, non-JSON types."""
    with pytest.raises(NotCanonicalizable):
        canonical_bytes(value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_form_is_valid_json_and_a_fixed_point(value: object) -> None:
    """Parsing the canonical text gives the same value, and canonicalising again the same text."""
    try:
        text = canonical_bytes(value)
    except NotCanonicalizable:
        return  # lone surrogates drawn by st.text()
    parsed = json.loads(text)
    assert canonical_bytes(parsed) == text
    assert parsed == value or _nan_free_equal(parsed, value)


def _nan_free_equal(a: object, b: object) -> bool:
    """Equality where -0.0 and 0 (written alike) count as equal."""
    if isinstance(a, float | int) and isinstance(b, float | int):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_nan_free_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_nan_free_equal(a[k], b[k]) for k in a)
    return a == b


def test_record_entry_holds_every_field_in_canonical_order() -> None:
    """The entry is exactly the RFC 8785 form of the record's fields, ts in UTC microseconds."""
    jst = timezone(timedelta(hours=9))
    fields: dict[str, object] = {
        "actor": None,
        "credential": "H10301:…456",
        "direction": "in",
        "door_id": "d1",
        "kind": "access.decision",
        "outcome": "granted",
        "person_id": "p1",
        "person_kind": "staff",
        "reader_id": "r1",
        "reason": "Granted",
        "zone_id": "z",
    }
    detail = {"purpose": "patching", "ticket": 42, "ratio": 0.5}
    ts = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=jst)
    entry = canonical_entry("hq", 7, ts_text(ts), fields, detail_text(detail))
    expected = canonical(
        {**fields, "detail": detail, "seq": 7, "site_id": "hq", "ts": "2026-11-26T00:30:15.123456Z"}
    )
    assert entry == expected.encode()
    assert sqlite_ts_text("2026-11-26 00:30:15.123456") == "2026-11-26T00:30:15.123456Z"
    assert ts_text(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000Z"
    with pytest.raises(NotCanonicalizable):
        canonical_entry("hq", 1, "t", {**fields, "door_id": 5}, "{}")


flat_details = st.dictionaries(
    st.text(max_size=8),
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=8) | st.floats(),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(flat_details)
def test_the_fast_path_for_flat_details_is_exactly_rfc8785(detail: dict[str, object]) -> None:
    """Whatever path detail_text takes, its text is the general canonical form (or refused)."""
    try:
        expected = canonical_bytes(detail).decode()
    except NotCanonicalizable:
        with pytest.raises(NotCanonicalizable):
            detail_text(detail).encode()
        return
    assert detail_text(detail) == expected
