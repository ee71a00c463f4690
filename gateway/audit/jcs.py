"""RFC 8785 JSON Canonicalization Scheme (JCS): the one byte string a JSON value hashes as.

Objects have their members sorted by the UTF-16 code units of their names, no whitespace,
strings escaped as ECMAScript's ``JSON.stringify`` does, and numbers written as ECMAScript
writes an IEEE 754 double. An integer beyond ±(2^53 - 1) that no double holds exactly is
refused, as are NaN, infinities, non-string member names and lone surrogates.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring  # C-accelerated, no ASCII escaping, no ASCII escaping
from typing import Final

MAX_SAFE_INTEGER: Final = 2**53 - 1


class NotCanonicalizable(ValueError):
    """The value has no RFC 8785 form (a NaN, a huge integer, a non-string key, ...)."""


def canonical(value: object) -> str:
    """The RFC 8785 canonical JSON text of ``value`` (dict, list, str, int, float, bool, None)."""
    parts: list[str] = []
    _write(value, parts, 0)
    return "".join(parts)


def canonical_bytes(value: object) -> bytes:
    """:func:`canonical` as UTF-8 bytes; lone surrogates are refused."""
    try:
        return canonical(value).encode()
    except UnicodeEncodeError:
        raise NotCanonicalizable("string holds a lone surrogate (not valid Unicode)") from None


def string(value: str) -> str:
    """One JSON string literal in canonical form."""
    return str(encode_basestring(value))


def number(value: float) -> str:
    """An IEEE 754 double written as ECMAScript's Number.prototype.toString writes it."""
    if not math.isfinite(value):
        raise NotCanonicalizable(f"{value!r} has no JSON form")
    if value == 0:
        return "0"  # also -0
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    # value = 0.<digits> x 10^point, with digits free of leading and trailing zeros
    point = len(whole) + (int(exp_text) if exp_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    sign = "-" if value < 0 else ""
    if count <= point <= 21:
        body = digits + "0" * (point - count)
    elif 0 < point <= 21:
        body = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        body = "0." + "0" * -point + digits
    else:
        exponent = point - 1
        mark = "+" if exponent > 0 else "-"
        head = digits[0] if count == 1 else digits[0] + "." + digits[1:]
        body = f"{head}e{mark}{abs(exponent)}"
    return sign + body


def _utf16_key(name: str) -> bytes:
    """Sort key of a member name: its UTF-16 code units, big-endian (RFC 8785 3.2.3)."""
    return name.encode("utf-16-be", "surrogatepass")


_MAX_DEPTH: Final = 64  # deeper nesting is refused rather than recursed into


def _write(value: object, out: list[str], depth: int) -> None:  # noqa: PLR0912  (one per JSON type)
    """Append the canonical text of ``value`` to ``out``."""
    if depth > _MAX_DEPTH:
        raise NotCanonicalizable(f"nested deeper than {_MAX_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(encode_basestring(value))
    elif isinstance(value, int):
        if abs(value) <= MAX_SAFE_INTEGER:
            out.append(str(int(value)))
        else:  # a JSON number is a double: only integers a double holds exactly are allowed
            try:
                as_double = float(value)
            except OverflowError:
                as_double = math.inf
            if as_double != value:
                raise NotCanonicalizable(f"integer {value} is beyond what a JSON number holds")
            out.append(number(as_double))
    elif isinstance(value, float):
        out.append(number(value))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise NotCanonicalizable(f"object member name {key!r} is not a string")
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring(key))
            out.append(":")
            _write(value[key], out, depth + 1)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, depth + 1)
        out.append("]")
    else:
        raise NotCanonicalizable(f"{type(value).__name__} is not a JSON value")
