"""One writer per site: the running gateway holds this lock; offline commands that write check it.

A second process appending to the same log would make the gateway's writer stop (its seqs
would clash). SQLite: an exclusive ``flock`` on ``<database>.writer-lock`` beside the file;
PostgreSQL: a session advisory lock keyed by the site id, on a connection held for the purpose.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from gateway.storage.errors import StorageError


class SiteBusy(StorageError):
    """Another process (the running gateway) holds the site's writer lock."""


def _advisory_key(site_id: str) -> int:
    """A signed 64-bit advisory-lock key for the site."""
    digest = hashlib.sha256(b"sekisho-writer:" + site_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_path(engine: Engine) -> Path:
    """The lock file of a SQLite store."""
    return Path(str(engine.url.database) + ".writer-lock")


@contextlib.contextmanager
def site_lock(engine: Engine, site_id: str) -> Iterator[None]:
    """Hold the site's writer lock for the ``with`` block; SiteBusy when another process has it."""
    if engine.dialect.name == "sqlite":
        path = lock_path(engine)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SiteBusy(
                    f"site {site_id!r} is in use by another process (is the gateway running?)"
                ) from None
            yield
        finally:
            os.close(fd)  # closing releases the flock
        return
    with engine.connect() as conn:
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": _advisory_key(site_id)}
        ).scalar()
        conn.commit()
        if not got:
            raise SiteBusy(
                f"site {site_id!r} is in use by another process (is the gateway running?)"
            )
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _advisory_key(site_id)})
            conn.commit()
