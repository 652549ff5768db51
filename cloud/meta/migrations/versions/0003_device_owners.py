"""Device ownership: which gateway may write each device (first writer, or an admin binding).

Known devices are given to the gateway the registry last saw writing them (the release before
this one recorded the last writer only); ``source`` is ``first_write`` for those.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_owners",
        sa.Column("device", sa.String(length=256), nullable=False),
        sa.Column("gateway_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device"),
    )
    op.create_index("ix_device_owners_gateway_id", "device_owners", ["gateway_id"])
    op.execute(
        "INSERT INTO device_owners (device, gateway_id, source, since_ms) "
        "SELECT device, gateway_id, 'first_write', first_seen_ms FROM devices "
        "WHERE gateway_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_device_owners_gateway_id", table_name="device_owners")
    op.drop_table("device_owners")
