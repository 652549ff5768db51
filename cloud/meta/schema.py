"""The metadata schema's version: versioned Alembic migrations, applied and checked here.

Every change to the metadata database is a revision in ``cloud/meta/migrations/versions``
(SQLite and PostgreSQL alike). :func:`upgrade` applies the pending ones under a lock (a
PostgreSQL advisory lock, a lock file beside a SQLite file), so several workers or replicas
starting at once migrate once; :func:`status` tells where a database stands. A database at a
revision this release does not know (made by a newer release) is refused with
:class:`SchemaTooNew`; one with pending revisions, when start-up must not migrate, with
:class:`SchemaOutOfDate`. A database made before migrations (no version table) is upgraded
from the baseline, which creates only the tables that are missing.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

from cloud.errors import MetadataError

#: Where the revisions live (package data of this package).
SCRIPT_LOCATION = str(Path(__file__).with_name("migrations"))
#: Key of the PostgreSQL advisory lock held while migrating ("iotgwmig" as an int).
_PG_LOCK_KEY = 0x696F7467776D6967
MIGRATE_HINT = "iotgw cloud migrate"


class SchemaTooNew(MetadataError):
    """The database was migrated by a newer release; this one cannot serve it."""


class SchemaOutOfDate(MetadataError):
    """The database has pending migrations and start-up was told not to apply them."""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None  #: the database's revision (None: empty or made before migrations)
    head: str  #: the newest revision this release knows
    pending: tuple[str, ...]  #: revisions an upgrade would apply, oldest first

    @property
    def up_to_date(self) -> bool:
        return not self.pending


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this release knows."""
    rev = _scripts().get_current_head()
    assert rev is not None
    return rev


def _status(conn: Connection) -> SchemaStatus:
    scripts = _scripts()
    newest = head()
    current = MigrationContext.configure(conn).get_current_revision()
    if current is not None and not _known(scripts, current):
        raise SchemaTooNew(
            f"the metadata database is at schema revision {current!r}, newer than this "
            f"release knows (up to {newest!r}): run the newer release, or restore a backup")
    pending = [s.revision for s in scripts.iterate_revisions(newest, current or "base")]
    return SchemaStatus(current, newest, tuple(reversed(pending)))


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:  # alembic's "no such revision"
        return False


def status(engine: Engine) -> SchemaStatus:
    """Where ``engine``'s database stands; :class:`SchemaTooNew` when it is ahead of us."""
    with engine.connect() as conn:
        return _status(conn)


def upgrade(engine: Engine, revision: str = "head") -> SchemaStatus:
    """Apply the pending revisions up to ``revision`` (under the migration lock); the status
    before."""
    with _migration_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        before = _status(conn)
        if before.pending:
            command.upgrade(_config(conn), revision)
    return before


def ensure(engine: Engine, migrate: bool) -> SchemaStatus:
    """At start-up: upgrade when ``migrate``, else refuse a database with pending revisions."""
    if migrate:
        return upgrade(engine)
    now = status(engine)
    if not now.up_to_date:
        raise SchemaOutOfDate(
            f"the metadata database needs {len(now.pending)} migration(s) "
            f"({', '.join(now.pending)}): run `{MIGRATE_HINT}` (or set metadata.migrate=auto)")
    return now


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """A lock file beside a SQLite database file (PostgreSQL locks in the transaction)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    with open(f"{url.database}.migrate-lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
