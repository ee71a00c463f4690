"""Alembic environment: migrates the connection that :mod:`gateway.storage.migrate` hands over.

There is no alembic.ini: ``migrate.py`` builds the configuration in code and passes an open
connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import gateway.storage.models  # noqa: F401  (importing it registers the tables on the metadata)


def run_migrations(connection: Connection) -> None:
    """Run the pending revisions on ``connection`` inside the caller's transaction."""
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Entry point alembic calls; refuses to run without a connection from migrate.py."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise TypeError("run migrations through gateway.storage.migrate, not the alembic CLI")
    run_migrations(connection)


main()
