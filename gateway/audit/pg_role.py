"""The PostgreSQL application role: INSERT and SELECT only on the log (4-8-6(4), 4-8-6(6)).

The schema is owned by the role that runs the migrations (``sekisho db upgrade``); the gateway
connects as an application role that may read and write master data but may only append to and
read the log (``record``, ``audit_node``, ``audit_checkpoint``): no UPDATE, DELETE or TRUNCATE
there. A retention purge goes through ``record_purge()``, a SECURITY DEFINER function owned by
the schema owner that blanks exactly what a purge blanks (and the guard trigger checks it).
Run the statements as the owner after every migration (they are idempotent).
"""

from __future__ import annotations

import re
from typing import Final

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from gateway.storage.errors import StorageError

LOG_TABLES: Final = ("record", "audit_node", "audit_checkpoint")
_ROLE: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role_sql(role: str, *, login: bool = True) -> list[str]:
    """The SQL that creates (if need be) and grants the application role ``role``."""
    if not _ROLE.match(role):
        raise ValueError(f"role name {role!r}: lower-case letters, digits and _ only")
    tables = ", ".join(LOG_TABLES)
    create = f"CREATE ROLE {role}{' LOGIN' if login else ''}"
    return [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
        f"THEN {create}; END IF; END $$",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM {role}",
        f"REVOKE ALL ON alembic_version FROM {role}",
        f"GRANT SELECT ON alembic_version TO {role}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"GRANT EXECUTE ON FUNCTION record_purge(varchar, integer, integer[]) TO {role}",
    ]


def setup_app_role(engine: Engine, role: str, *, login: bool = True) -> None:
    """Run :func:`app_role_sql` on ``engine`` (connected as the schema owner)."""
    if engine.dialect.name != "postgresql":
        raise ValueError("the application role is a PostgreSQL matter; SQLite has triggers")
    try:
        with engine.begin() as conn:
            for statement in app_role_sql(role, login=login):
                conn.execute(text(statement))
    except SQLAlchemyError as exc:
        raise StorageError(f"setting up role {role!r} failed: {exc}") from None
