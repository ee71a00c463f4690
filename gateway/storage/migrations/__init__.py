"""Alembic migrations of the Sekisho schema; run them through :mod:`gateway.storage.migrate`."""
