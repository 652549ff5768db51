"""Dialect-aware statements shared by the alerting stores: counter upserts and row claims.

SQLite and PostgreSQL both speak ``INSERT ... ON CONFLICT DO UPDATE``; SQLAlchemy spells it
per dialect. Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a
time, so a guarded single-statement ``UPDATE`` is the equivalent there.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

T = TypeVar("T")
#: PostgreSQL deadlock and serialization failures: the transaction may simply be run again.
_RETRY_SQLSTATES = {"40P01", "40001"}


def increment(
    conn: Connection, table: Table, key: Sequence[str], counts: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """Add each row's ``counts`` columns to the row with its ``key``, creating it when missing.

    One cached statement run with many parameter sets (executemany), so a batch touching a
    hundred devices costs one round of statements, not a hundred compilations. Rows go in key
    order, so two replicas upserting overlapping rows cannot deadlock on PostgreSQL.
    """
    if not rows:
        return
    stmt = _increment_stmt(table, conn.dialect.name, tuple(key), tuple(counts))
    conn.execute(stmt, _in_key_order(rows, key))


@functools.lru_cache(maxsize=64)
def _increment_stmt(table: Table, dialect: str, key: tuple[str, ...],
                    counts: tuple[str, ...]) -> Any:
    """One statement object per shape: SQLAlchemy then reuses its cache key and compiled
    form instead of rebuilding both on every batch."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + stmt.excluded[name] for name in counts},
    )


def upsert(
    conn: Connection, table: Table, key: Sequence[str], rows: Sequence[Mapping[str, Any]],
    update: Sequence[str],
) -> None:
    """Insert ``rows``; on a primary-key conflict overwrite the ``update`` columns."""
    if not rows:
        return
    stmt = _upsert_stmt(table, conn.dialect.name, tuple(key), tuple(update))
    conn.execute(stmt, _in_key_order(rows, key))


@functools.lru_cache(maxsize=64)
def _upsert_stmt(table: Table, dialect: str, key: tuple[str, ...],
                 update: tuple[str, ...]) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=list(key), set_={name: stmt.excluded[name] for name in update}
    )


def _in_key_order(rows: Sequence[Mapping[str, Any]], key: Sequence[str]) -> list[Any]:
    """Rows sorted by key: concurrent upserts lock rows in one order and cannot deadlock."""
    return sorted(rows, key=lambda row: tuple(str(row[k]) for k in key))


def is_postgres(conn: Connection) -> bool:
    """Whether ``conn`` talks to PostgreSQL (row locks) rather than SQLite (one writer)."""
    return conn.dialect.name == "postgresql"


def transient(exc: OperationalError) -> bool:
    """Whether running the transaction again may succeed: SQLite busy/locked (a writer raced
    us past the busy timeout's reach), PostgreSQL deadlock or serialization failure."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database is busy" in text


def retrying(fn: Callable[[], T], attempts: int = 6) -> T:
    """Run the transaction ``fn`` again (with a short jittered pause) on transient conflicts."""
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            if attempt == attempts - 1 or not transient(exc):
                raise
            time.sleep(random.uniform(0, 0.01 * 2 ** attempt))
    raise AssertionError("unreachable")
