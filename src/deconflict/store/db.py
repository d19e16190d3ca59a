"""The store: one SQLAlchemy engine pair over SQLite (default) or PostgreSQL + PostGIS.

``Store(url)`` opens a database; :meth:`Store.migrate` brings its schema to the latest
revision (Alembic, run in-process); :meth:`Store.write` opens the one write transaction
(serialised across threads *and* processes), :meth:`Store.read` a read-only one.

Why writes are serialised: a submission's conflict check and its insert must be one
atomic unit — two concurrent submissions that conflict must never both commit unseen by
each other.  Each write therefore takes a database-wide write lock first — SQLite's
``BEGIN IMMEDIATE``, PostgreSQL's transaction-scoped advisory lock — then brings the
service's in-memory index up to date with whatever other processes committed, checks,
and writes.  A write is a few milliseconds, so a single writer is not the bottleneck
for the traffic a deconfliction cell sees (docs/benchmarks.md has the measured rates).

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed write survives a crash
of the process or the machine) and foreign keys on; readers never block the writer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

__all__ = ["DEFAULT_URL", "Store", "normalise_url"]

DEFAULT_URL = "sqlite:///deconflict.db"
_WRITE_LOCK_ID = 0x0DEC0F11C7  # PostgreSQL advisory lock key for the write transaction
_MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` and select the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Store:
    """A database, its engines, and the write lock."""

    def __init__(self, url: str = DEFAULT_URL, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.dialect = sa.engine.make_url(self.url).get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql://")
        self._lock = threading.RLock()
        if self.dialect == "sqlite":
            self.writer = self._sqlite(immediate=True, echo=echo)
            self.reader = self._sqlite(immediate=False, echo=echo)
        else:
            self.writer = sa.create_engine(self.url, echo=echo, pool_size=4, max_overflow=4, pool_pre_ping=True)
            self.reader = sa.create_engine(self.url, echo=echo, pool_size=8, max_overflow=16, pool_pre_ping=True)

    def _sqlite(self, *, immediate: bool, echo: bool) -> Engine:
        engine = sa.create_engine(self.url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA busy_timeout=30000",
            ):
                cursor.execute(pragma)
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    # --- transactions ---------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """The write transaction: exclusive across threads and processes; commits on exit."""
        with self._lock, self.writer.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK_ID})
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both back-ends)."""
        with self.reader.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn

    # --- schema ---------------------------------------------------------------------

    def _alembic(self, conn: Connection) -> Config:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = conn
        return config

    def migrate(self, revision: str = "head") -> None:
        """Create or upgrade the schema to ``revision`` (default: the latest), keeping data."""
        with self._lock, self.writer.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK_ID})
            command.upgrade(self._alembic(conn), revision)

    def current_revision(self) -> str | None:
        with self.reader.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @staticmethod
    def head_revision() -> str:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        assert head is not None
        return head

    def dispose(self) -> None:
        self.writer.dispose()
        self.reader.dispose()
