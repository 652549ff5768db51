"""Versioned migrations of the metadata database (Alembic scripts; see cloud/meta/schema.py).

Every change to a table on ``cloud.meta.db.metadata`` (any module's) needs a revision here:

1. change the ``Table`` where it is declared;
2. add ``versions/NNNN_what.py`` with ``revision = "NNNN"`` and ``down_revision`` = the newest
   revision, an ``upgrade()`` written with ``op`` (``op.batch_alter_table`` for changes to
   existing columns, which SQLite can only do by copying the table) and a ``downgrade()``;
3. run ``tests/cloud/test_migrations.py``: it fails while the migrated schema and the declared
   tables differ (on SQLite and PostgreSQL), and upgrades the previous release's database.

Revisions are never edited once released; ``0001_baseline`` is frozen.
"""
