"""Backups of the SQLite store (4-8-6(17)): consistent while the gateway writes, and restores.

``backup`` uses SQLite's online backup API: it copies the database as of one moment, however
busy the writer is, into a new file next to the destination that is renamed into place once
complete. ``restore`` puts a backup back while the gateway is stopped (the site lock says so).
For PostgreSQL use ``pg_dump`` (see docs/audit.md); the log verifies the same way after it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine

from gateway.audit.site_lock import site_lock


class BackupError(RuntimeError):
    """The backup or restore could not be made."""


def sqlite_path(engine: Engine) -> Path:
    """The file of a SQLite store; BackupError for any other kind."""
    if engine.dialect.name != "sqlite":
        raise BackupError(
            "online backup here is for SQLite; back PostgreSQL up with pg_dump (docs/audit.md)"
        )
    return Path(str(engine.url.database))


def _copy(source: Path, dest: Path, *, source_readonly: bool) -> int:
    """Copy the database ``source`` into a fresh ``dest`` via the backup API; returns pages."""
    tmp = dest.with_name(f".{dest.name}.partial")
    tmp.unlink(missing_ok=True)
    uri = f"file:{source}?mode=ro" if source_readonly else f"file:{source}"
    try:
        src = sqlite3.connect(uri, uri=True)
        try:
            out = sqlite3.connect(tmp)
            try:
                src.backup(out)  # all pages in one step: one consistent snapshot
                pages = int(out.execute("PRAGMA page_count").fetchone()[0])
                out.execute("PRAGMA journal_mode=DELETE")  # a self-contained file
            finally:
                out.close()
        finally:
            src.close()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.replace(dest)
    except (sqlite3.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"copying {source} to {dest} failed: {exc}") from None
    return pages


def backup(engine: Engine, dest: Path) -> int:
    """Write a consistent copy of the store to ``dest`` (a file; refused if it exists)."""
    source = sqlite_path(engine)
    if dest.is_dir():
        dest = dest / f"{source.stem}-backup.db"
    if dest.exists():
        raise BackupError(f"{dest} exists: a backup never overwrites")
    if not dest.parent.is_dir():
        raise BackupError(f"directory {dest.parent} does not exist")
    return _copy(source, dest, source_readonly=True)


def restore(engine: Engine, site_id: str, source: Path) -> int:
    """Replace the store with the backup ``source``; only while the gateway is stopped."""
    target = sqlite_path(engine)
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as check:
            tables = {
                r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
    except sqlite3.Error as exc:
        raise BackupError(f"{source} is not a SQLite database: {exc}") from None
    if not {"record", "alembic_version"} <= tables:
        raise BackupError(f"{source} is not a Sekisho store (no record log)")
    engine.dispose()
    with site_lock(engine, site_id):
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        return _copy(source, target, source_readonly=True)
