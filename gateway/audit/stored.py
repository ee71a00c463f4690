"""Record values as the databases hand them back raw, turned into what the commitment hashed."""

from __future__ import annotations

import json
from datetime import datetime

from gateway.audit.entry import sqlite_ts_text, ts_text


def stored_ts_text(value: object) -> str:
    """Canonical ts of a stored value: SQLite gives its DATETIME text, PostgreSQL a datetime."""
    if isinstance(value, str):
        return sqlite_ts_text(value)
    if isinstance(value, datetime):
        return ts_text(value)
    raise TypeError(f"record ts is stored as {type(value).__name__}")


def stored_detail(value: object) -> object:
    """A stored detail as a JSON value: SQLite gives text, PostgreSQL the parsed object."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value
