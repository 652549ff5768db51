"""Alembic's environment: runs on the connection :mod:`cloud.meta.schema` hands it.

Never opens its own engine: ``iotgw cloud migrate`` and the cloud's start-up pass the
connection (and hold the migration lock) in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection


def _run() -> None:
    connection = context.config.attributes.get("connection")

    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations with `iotgw cloud migrate`, not the alembic command")
    context.configure(connection=connection, render_as_batch=True,
                      transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):  # only under alembic (not when a test collector imports this)
    _run()
