"""Typed storage errors: what callers of the storage layer catch instead of library exceptions."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error the storage layer raises."""


class DatabaseRefused(StorageError):
    """The URL or path names a store Sekisho will not use (dialect, in-memory, missing dir)."""


class SchemaError(StorageError):
    """The database schema is not one the migrations made, or its revision is unknown."""


class WriteFailed(StorageError):
    """A batch of records could not be committed (disk full, read-only file, database gone)."""


class SeqConflict(StorageError):
    """Another writer appended to the same site's log: this log refuses to go on (4-8-6(4))."""


class LogClosed(StorageError):
    """The record log is not running: not started yet, or closed."""


class QueryFailed(StorageError):
    """A read from the database failed."""
