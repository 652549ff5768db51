"""The metadata database: one SQLAlchemy 2 Core ``MetaData``, an engine, explicit start/stop.

Tables are declared in the modules that use them (tokens, idempotency, devices, dead letters,
ownership, the alerting subpackages), all on :data:`metadata`; the database's schema is made
and changed only by the versioned migrations of :mod:`cloud.meta.schema` (``start()`` applies
the pending ones, or with ``migrate=False`` refuses a database that has any). SQLite is the
default (WAL, busy timeout); PostgreSQL (``postgresql+psycopg://``) serves several cloud
replicas sharing one database.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cloud.errors import MetadataError
from cloud.filemodes import private_sqlite
from cloud.meta import schema

metadata = MetaData()


def now_ms() -> int:
    """Wall-clock UTC milliseconds (metadata timestamps)."""
    return int(time.time() * 1000)


class MetaDB:
    """Owns the engine; ``start()`` connects and brings the schema up to date (or refuses a
    database that is not, see :func:`cloud.meta.schema.ensure`), ``stop()`` disposes."""

    def __init__(self, url: str, echo: bool = False, migrate: bool = True) -> None:
        self.url = url
        self.echo = echo
        self.migrate = migrate
        #: Where the schema stood when :meth:`start` found it (before any migration).
        self.schema_status: schema.SchemaStatus | None = None
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise MetadataError("the metadata database is not started")
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def start(self) -> None:
        if self._engine is not None:
            return
        url = make_url(self.url)
        # A pre-ping finds server connections that went stale; a SQLite file has none, and
        # the extra ``SELECT 1`` per transaction cost ~2% of ingest.
        sqlite_url = url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": self.echo, "pool_pre_ping": not sqlite_url}
        if sqlite_url:
            if url.database and url.database != ":memory:":
                private_sqlite(Path(url.database))  # token hashes, webhook secrets: 0600
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        engine = create_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        try:
            self.schema_status = schema.ensure(engine, self.migrate)
        except MetadataError:
            engine.dispose()
            raise
        except SQLAlchemyError as exc:
            engine.dispose()
            first = str(exc).splitlines()[0]
            raise MetadataError(f"cannot open the metadata database {url!r}: {first}") from exc
        self._engine = engine

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def insert(self, table: Any) -> Any:
        """A dialect-specific INSERT that supports ``on_conflict_do_*`` (SQLite, PostgreSQL)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
