"""Persistence: sqlmodel tables, SQLite (WAL) or PostgreSQL engines, migrations, the record log."""
