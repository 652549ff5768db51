"""Tokens get scopes, a name, an expiry and a last-use time; existing tokens become ``ingest``.

Every token of the release before scopes was a gateway's token, so each keeps its gateway and
gets the ``ingest`` scope (the column's default): gateways keep working across the upgrade.
``gateway_id`` becomes optional, as read, alerts:write and admin tokens name no gateway.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gateway_tokens") as batch:
        batch.add_column(sa.Column("scopes", sa.String(length=200), nullable=False,
                                   server_default="ingest"))
        batch.add_column(sa.Column("name", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("expires_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("last_used_ms", sa.BigInteger(), nullable=True))
        batch.alter_column("gateway_id", existing_type=sa.String(length=128), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM gateway_tokens WHERE gateway_id IS NULL")
    with op.batch_alter_table("gateway_tokens") as batch:
        batch.alter_column("gateway_id", existing_type=sa.String(length=128), nullable=False)
        batch.drop_column("last_used_ms")
        batch.drop_column("expires_ms")
        batch.drop_column("name")
        batch.drop_column("scopes")
