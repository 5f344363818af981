"""contacts from CardDAV: what each source contributed to a customer

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer_field_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("collection", sa.String(length=512), nullable=False),
        sa.Column("remote_id", sa.String(length=512), nullable=False),
        sa.Column("seen_at", DT, nullable=False),
        sa.Column("removed_at", DT, nullable=True),
        sa.CheckConstraint(
            "person_id IS NOT NULL OR organization_id IS NOT NULL",
            name=op.f("ck_customer_field_sources_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_customer_field_sources_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_customer_field_sources_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_customer_field_sources_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_field_sources")),
    )
    op.create_index(
        "ix_customer_field_sources_remote",
        "customer_field_sources",
        ["account_id", "remote_id"],
    )
    op.create_index(
        op.f("ix_customer_field_sources_person_id"), "customer_field_sources", ["person_id"]
    )
    op.create_index(
        op.f("ix_customer_field_sources_organization_id"),
        "customer_field_sources",
        ["organization_id"],
    )


def downgrade() -> None:
    op.drop_table("customer_field_sources")
