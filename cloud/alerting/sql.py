"""Dialect-aware statements shared by the alerting stores: counter upserts and row claims.

SQLite and PostgreSQL both speak ``INSERT ... ON CONFLICT DO UPDATE``; SQLAlchemy spells it
per dialect. Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a
time, so a guarded single-statement ``UPDATE`` is the equivalent there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def increment(
    conn: Connection, table: Table, key: Sequence[str], counts: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """Add each row's ``counts`` columns to the row with its ``key``, creating it when missing.

    One cached statement run with many parameter sets (executemany), so a batch touching a
    hundred devices costs one round of statements, not a hundred compilations.
    """
    if not rows:
        return
    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = module.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + stmt.excluded[name] for name in counts},
    )
    conn.execute(stmt, list(rows))


def upsert(
    conn: Connection, table: Table, key: Sequence[str], rows: Sequence[Mapping[str, Any]],
    update: Sequence[str],
) -> None:
    """Insert ``rows``; on a primary-key conflict overwrite the ``update`` columns."""
    if not rows:
        return
    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = module.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={name: stmt.excluded[name] for name in update}
    )
    conn.execute(stmt, list(rows))


def is_postgres(conn: Connection) -> bool:
    """Whether ``conn`` talks to PostgreSQL (row locks) rather than SQLite (one writer)."""
    return conn.dialect.name == "postgresql"
