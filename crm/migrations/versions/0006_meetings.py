"""meetings: end, location, status, all-day and private on interactions; attendee status;
sources that disappeared

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("interactions", sa.Column("ends_at", DT, nullable=True))
    op.add_column(
        "interactions", sa.Column("location", sa.Text(), nullable=False, server_default="")
    )
    op.add_column(
        "interactions", sa.Column("status", sa.String(16), nullable=False, server_default="")
    )
    op.add_column(
        "interactions",
        sa.Column("all_day", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "interactions",
        sa.Column("is_private", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "participants", sa.Column("status", sa.String(16), nullable=False, server_default="")
    )
    op.add_column("interaction_sources", sa.Column("removed_at", DT, nullable=True))


def downgrade() -> None:
    op.drop_column("interaction_sources", "removed_at")
    op.drop_column("participants", "status")
    for name in ("is_private", "all_day", "status", "location", "ends_at"):
        op.drop_column("interactions", name)
