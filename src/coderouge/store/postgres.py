"""PostgreSQL, the team store: `postgresql://user:pass@host:port/db` (or `?host=/socket/dir`),
through SQLAlchemy Core and psycopg 3. Concurrency is PostgreSQL's own (read committed; the one
vote per battle is a single conditional UPDATE)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from ..errors import MissingPackageError, StoreOpenError

CONNECT_TIMEOUT_S = 10


class PostgresBackend:
    name = "postgresql"
    insert = staticmethod(pg_insert)
    path = None

    def __init__(self, url: str):
        try:
            u = make_url(url)
        except Exception:
            raise StoreOpenError("the store URL is not valid: expected postgresql://user:password@host:port/database") from None
        self.url: URL = u.set(drivername="postgresql+psycopg")
        self.location = self.url.set(drivername="postgresql").render_as_string(hide_password=True)

    def engine(self) -> Engine:
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            raise MissingPackageError("a PostgreSQL store needs psycopg: pip install 'coderouge[postgres]'")
        return create_engine(self.url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})

    def lock_for_migration(self, conn: Connection) -> None:
        """Two processes opening a new database at once: the second waits here, then finds it migrated."""
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7270414)")

    def table_names(self, conn: Connection) -> set[str]:
        return {r[0] for r in conn.exec_driver_sql(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()")}

    def legacy_version(self, conn: Connection) -> int:
        return 0

    def set_legacy_version(self, conn: Connection, n: int) -> None:
        return None
