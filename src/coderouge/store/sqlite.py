"""SQLite, the embedded default: WAL mode, one writer at a time across processes (BEGIN IMMEDIATE
with a 30 s busy timeout, so two `coderouge eval` processes wait for each other instead of failing
with "database is locked")."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import NullPool

from ..errors import StoreOpenError

BUSY_TIMEOUT_MS = 30_000


class SQLiteBackend:
    name = "sqlite"
    insert = staticmethod(sqlite_insert)  # has on_conflict_do_update / do_nothing

    def __init__(self, path: Path):
        self.path = path
        self.location = str(path)

    def engine(self) -> Engine:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreOpenError(f"cannot create the folder of the store {self.path}: {e.strerror or e}") from None
        if self.path.is_dir():
            raise StoreOpenError(f"the store {self.path} is a folder, not a file")
        eng = create_engine(f"sqlite:///{self.path}", poolclass=NullPool,
                            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

        @event.listens_for(eng, "connect")
        def _connect(dbapi: Any, _rec: Any) -> None:
            dbapi.isolation_level = None  # transactions are begun by the listener below, not by pysqlite
            cur = dbapi.cursor()
            # Switching a new file to WAL takes an exclusive lock, and SQLite can answer "database is locked"
            # at once, without its busy handler, while another process is creating the same store (seen
            # once in CI: two `eval`s starting on one new store): wait for it as the busy timeout would.
            # A file that is not SQLite fails here with another message, at once.
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
            while True:
                try:
                    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                    cur.execute("PRAGMA journal_mode=WAL")  # outside any transaction
                    cur.execute("PRAGMA synchronous=NORMAL")
                    break
                except sqlite3.OperationalError as e:
                    if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            cur.close()

        @event.listens_for(eng, "begin")
        def _begin(conn: Connection) -> None:
            # a writer takes the write lock up front, so it waits (busy timeout) instead of failing when it
            # would have to upgrade a read snapshot that another process has since changed
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

        return eng

    def lock_for_migration(self, conn: Connection) -> None:
        return None  # the write transaction (BEGIN IMMEDIATE) already holds the database's one write lock

    def table_names(self, conn: Connection) -> set[str]:
        return {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}

    def legacy_version(self, conn: Connection) -> int:
        """The schema number of a store made before named migrations (PRAGMA user_version)."""
        return int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)

    def set_legacy_version(self, conn: Connection, n: int) -> None:
        # kept in step so that an older coderouge, which reads only user_version, refuses a newer store
        conn.exec_driver_sql(f"PRAGMA user_version={int(n)}")

