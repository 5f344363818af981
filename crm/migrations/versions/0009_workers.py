"""workers: the shared schedule (failures in a row), counters for /metrics, who ran a run,
and the table of running workers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("last_worker", sa.String(128), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("items_total", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("errors_total", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("worker", sa.String(128), nullable=False, server_default=""))
        batch.create_index(batch.f("ix_sync_runs_started_at"), ["started_at"])
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("started_at", DT, nullable=False),
        sa.Column("seen_at", DT, nullable=False),
        sa.Column("running", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
        sa.UniqueConstraint("name", name=op.f("uq_workers_name")),
    )


def downgrade() -> None:
    op.drop_table("workers")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_index(batch.f("ix_sync_runs_started_at"))
        batch.drop_column("worker")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("errors_total")
        batch.drop_column("items_total")
        batch.drop_column("last_worker")
        batch.drop_column("failures")
